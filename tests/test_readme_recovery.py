"""The README's "When something fails" section, run as written.

Every ```sh block of the section is one command; each is run verbatim through `bash -c` (with
`nomadctl` on PATH as this tree's CLI, HOME a temporary directory so `~/.nomadctl` is the
workspace home, and CAPITALS placeholders filled in), in the situation its bullet describes:
AWS ones on moto behind the strict layer, the others on one testbed of two real SSH hosts.
A command the section gains without a scenario here fails the test, and so does a step
whose command does not do what the README says. Every inline `nomadctl ...` of the section
must also parse as the CLI parses it (options that exist, global ones before the command).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.aws import checks
from tests.aws.fixtures import OTHER_REGION, AwsEnv
from tests.standin import make_binary

ROOT = Path(__file__).resolve().parent.parent
SECTION_RE = re.compile(r"^## When something fails\n(.*?)^## ", re.S | re.M)


def section() -> str:
    found = SECTION_RE.search((ROOT / "README.md").read_text())
    assert found, "README has no '## When something fails' section"
    return found.group(1)


def block_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", section(), re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip()]


def kind_of(command: str) -> str:
    """Which situation a README command belongs to (its scenario below)."""
    words = shlex.split(command)
    if words[0] == "ssh-keygen":
        return "forget-host-key"
    assert words[0] == "nomadctl", command
    if "list" in words:
        return "list"
    if "acl-bootstrap" in words:
        return "acl-reset"
    if "down" in words:
        if "--region" in words:
            return "down-by-tag"
        return "down-force" if "--force" in words else "down-static"
    raise AssertionError(f"README command without a scenario in this test: {command}")


def by_kind() -> dict[str, str]:
    out: dict[str, str] = {}
    for command in block_commands():
        kind = kind_of(command)
        assert kind not in out, f"two README commands for {kind}: {out[kind]!r}, {command!r}"
        out[kind] = command
    return out


AWS_KINDS = {"down-by-tag", "list"}
HOST_KINDS = {"down-static", "down-force", "acl-reset", "forget-host-key"}


def test_every_command_has_a_scenario_and_inline_commands_parse() -> None:
    import click

    from nomadctl.cli.app import command

    assert set(by_kind()) == AWS_KINDS | HOST_KINDS
    group = command()
    assert isinstance(group, click.Group)
    inline = re.findall(r"`(nomadctl [^`]*)`", section())
    assert len(inline) >= 3
    for text in [*inline, *block_commands()]:
        if not text.startswith("nomadctl"):
            continue
        args = shlex.split(text.replace("...", ""))[1:]
        ctx = group.make_context("nomadctl", list(args))  # global options, then the command
        with warnings.catch_warnings():  # Click 8.2 deprecates protected_args, 9.0 drops it
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*ctx.protected_args, *ctx.args]
        assert rest, f"{text!r}: no command"
        sub = group.get_command(ctx, rest[0])
        assert sub is not None, f"{text!r}: no command {rest[0]!r}"
        try:
            sub.make_context(rest[0], rest[1:], parent=ctx)
        except click.UsageError as exc:
            raise AssertionError(
                f"README's `{text}` does not parse: {exc.format_message()}"
            ) from None


class Shell:
    """Runs README lines as a user's shell would, `nomadctl` being this tree's CLI."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.home = tmp / "user"
        self.home.mkdir(exist_ok=True)
        bin_dir = tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "nomadctl"
        wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m nomadctl "$@"\n')
        wrapper.chmod(0o755)
        self.env = {
            **env,
            "HOME": str(self.home),
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "COLUMNS": "200",
        }
        self.env.pop("NOMADCTL_HOME", None)  # ~/.nomadctl, as the README's paths say
        self.env.pop("NOMADCTL_CLUSTER", None)

    @property
    def ws(self) -> Path:
        return self.home / ".nomadctl" / "lab"

    def run(self, line: str, **fill: str) -> subprocess.CompletedProcess[str]:
        for name, value in fill.items():
            line = line.replace(name, shlex.quote(value))
        assert not re.search(r"\b[A-Z]{4,}\b", line), f"unfilled placeholder in {line!r}"
        return subprocess.run(
            ["bash", "-c", line],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.tmp,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, line: str, **fill: str) -> subprocess.CompletedProcess[str]:
        proc = self.run(line, **fill)
        assert proc.returncode == 0, f"README step failed: {line}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc


def test_aws_recovery_steps_as_written(aws_env: AwsEnv) -> None:
    steps = by_kind()
    # The shell's region is not the cluster's: the README says the recorded one is used.
    shell = Shell(aws_env.tmp, aws_env.child_env(AWS_DEFAULT_REGION=OTHER_REGION))
    up = "nomadctl --cluster lab up --yes --region eu-west-1 --servers 1 --clients 0"
    up += " --allow-cidr 203.0.113.0/24"
    shell.ok(up)

    listed = shell.ok(steps["list"]).stdout
    row = next(line for line in listed.splitlines() if line.split()[:1] == ["lab"])
    assert "eu-west-1" in row and "1 running" in row, listed

    (shell.ws / "state.json").write_text('{"cluster": "lab", "hosts": 7}')  # damaged
    proc = shell.ok(steps["down-by-tag"])
    assert "lab-server-1" in proc.stdout and "state is unreadable" in proc.stderr
    checks.assert_gone(aws_env, "lab")
    assert (shell.ws / "state.json.damaged").exists()
    again = shell.ok(steps["down-by-tag"])  # twice is safe
    assert "Nothing to delete" in again.stdout

    shell.ok(up)
    shutil.rmtree(shell.ws)  # the workspace is lost
    proc = shell.ok(steps["down-by-tag"])
    assert "lab-server-1" in proc.stdout and "vpc" in proc.stdout
    checks.assert_gone(aws_env, "lab")
    assert not shell.ws.exists(), "down must not create a workspace"


@pytest.mark.testbed
def test_host_recovery_steps_as_written(testbed_factory: Any, tmp_path: Path) -> None:
    steps = by_kind()
    tb = testbed_factory(2)
    server, client = tb.hosts
    passthrough = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    shell = Shell(tmp_path, passthrough)
    binary = make_binary(tmp_path / "nomad")
    up = (
        f"nomadctl --cluster lab up --yes --json --no-docker --ssh-key {tb.key_path} "
        f"--nomad-binary {binary} --leader-timeout 60 "
        f"--server {server.address} --client {client.address}"
    )
    assert json.loads(shell.ok(up).stdout)["acl"] == "bootstrapped"

    # ACL token lost
    (shell.ws / "tokens" / "management.json").unlink()
    proc = shell.run("nomadctl --cluster lab acl-bootstrap")
    assert proc.returncode != 0 and "--reset" in proc.stderr  # "explains"
    shell.ok(steps["acl-reset"])
    assert (shell.ws / "tokens" / "management.json").exists()
    shell.ok("nomadctl --cluster lab status")

    # host key changed: the machine was "rebuilt" (its pin now names another key)
    known = shell.ws / "known_hosts"
    other = server.host_public_key.split()
    known.write_text(
        "".join(
            f"{client.address} {other[0]} {other[1]}\n" if line.startswith(client.address) else line
            for line in known.read_text().splitlines(keepends=True)
        )
    )
    proc = shell.run(up)
    assert proc.returncode != 0 and "CHANGED" in proc.stderr
    shell.ok(steps["forget-host-key"], ADDRESS=client.address)
    shell.ok(up)

    # start again on the same machines
    shell.ok(steps["down-static"])
    assert tb.read_file(server, "/etc/nomad.d/nomad.hcl") is None
    assert json.loads(shell.ok(up).stdout)["acl"] == "bootstrapped"

    # a host gone for good
    tb.net_down(client)
    try:
        proc = shell.ok(steps["down-force"])
        assert "skipped 1 host(s)" in proc.stderr and "lab-client-1" in proc.stderr
        assert "hosts" not in json.loads((shell.ws / "state.json").read_text())
        assert tb.read_file(server, "/etc/nomad.d/nomad.hcl") is None
    finally:
        tb.net_up(client)
