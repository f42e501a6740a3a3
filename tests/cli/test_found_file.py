"""Issue 28 point 1: a nomadctl.toml merely found in the current directory never decides what
runs, where it comes from, whom to trust or where the workspace is. The rule is one table,
`cli.config.FILE_SETTINGS`; these tests walk every Click option of every command, so an
option added without a classification fails here. Each test failed on the main of
2026-12-07 (b311992): releases_url, release_key, local and home passed unasked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from nomadctl.cli import config as configfile
from nomadctl.cli.app import command
from nomadctl.cli.context import AppContext, confirm_file_settings
from nomadctl.cli.ui import Ui
from nomadctl.errors import UsageError

TREE = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
FINGERPRINT = "C874011F0AB405110D02105534365D9472D7468F"

# A value a file could give each string option (the option's own check must accept it).
SAMPLES: dict[str, Any] = {
    "snapshot_to": "s3://someone-elses-bucket/nomad",
    "client_instance_profile": True,
    "cpu_credits": "unlimited",
    "region": "eu-west-1",
    "profile": "someone-else",
    "vpc_cidr": "10.9.0.0/16",
    "subnet_cidr": "10.9.1.0/24",
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_id": ["subnet-0123456789abcdef0"],
    "availability_zone": "eu-west-1b",
    "allow_cidr": ["0.0.0.0/0"],
    "client_port": ["8000-8100"],
    "server_type": "t3.large",
    "client_type": "t3.large",
    "ami": "ami-0123456789abcdef0",
    "server": ["198.18.0.9"],
    "client": ["198.18.0.10"],
    "nomad_version": "1.9.0",
    "nomad_region": "eu",
    "datacenter": "dc9",
    "node_pool": "gpu",
    "ssh_user": "ec2-user",
    "bastion": "ubuntu@jump.example.com",
    "releases_url": "https://mirror.example.com",
    "release_key_fingerprint": FINGERPRINT,
}


def every_option() -> list[tuple[str, click.Command, click.Option]]:
    root = command()
    assert isinstance(root, click.Group)
    found = [("", root, p) for p in root.params if isinstance(p, click.Option)]
    for name, cmd in root.commands.items():
        found += [(name, cmd, p) for p in cmd.params if isinstance(p, click.Option)]
    return found


def test_every_option_of_every_command_is_classified() -> None:
    missing = [
        f"{cmd or 'nomadctl'} --{p.name}"
        for cmd, _c, p in every_option()
        if p.name not in configfile.FILE_SETTINGS.get(cmd, {})
    ]
    assert not missing, f"classify in cli/config.FILE_SETTINGS: {missing}"
    known = {(cmd, p.name) for cmd, _c, p in every_option()}
    stale = [
        (cmd, name)
        for cmd, table in configfile.FILE_SETTINGS.items()
        for name in table
        if (cmd, name) not in known
    ]
    assert not stale, f"no such option any more: {stale}"


def sample(param: click.Option, tmp_path: Path) -> Any:
    if param.name in SAMPLES:
        return SAMPLES[param.name]
    t = param.type
    if param.is_flag or isinstance(t, click.types.BoolParamType):
        return not param.default
    if isinstance(t, click.Choice):
        return next(c for c in reversed(t.choices) if c != param.default)
    if isinstance(t, click.types.IntParamType):
        return int(param.default or 0) + 2
    if isinstance(t, click.types.FloatParamType):
        return float(param.default or 0) + 1.0
    if "path" in type(t).__name__.lower() or getattr(t, "name", "") == "path":
        return str(tmp_path / f"{param.name}.file")
    raise AssertionError(f"give --{param.name} a sample value in SAMPLES")


@pytest.mark.parametrize(
    "name", [n for n, what in configfile.FILE_SETTINGS["up"].items() if what is not None]
)
def test_each_risky_up_setting_from_a_found_file_is_refused_without_a_terminal(
    name: str, tmp_path: Path
) -> None:
    """`up --yes` (no terminal) with the setting from ./nomadctl.toml: named and refused."""
    root = command()
    up = root.commands["up"]  # type: ignore[attr-defined]
    param = next(p for p in up.params if p.name == name)
    value = sample(param, tmp_path)
    cfg = configfile.build(tmp_path / "nomadctl.toml", {"up": {name: value}}, root, True)
    parent = click.Context(root, info_name="nomadctl")
    parent.obj = AppContext(tmp_path / "home", "nomad", cfg.path, Ui(), file_config=cfg)
    args = [] if name == "yes" else ["--yes"]
    ctx = up.make_context("up", args, parent=parent, default_map=cfg.default_map["up"])
    assert ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT_MAP
    risky = configfile.risky_file_settings(cfg, ctx)
    assert [line.split(" ", 1)[0] for line in risky] == [name]
    assert not sys.stdin.isatty()
    with pytest.raises(UsageError, match=f"sets {name}, which decide what runs"):
        confirm_file_settings(ctx)
    given = up.make_context("up", ["--yes"], parent=parent)  # no file: nothing to confirm
    assert configfile.risky_file_settings(cfg, given) == []


def nomadctl(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd / "me"), **TREE, **env},
    )


def test_found_mirror_and_key_cannot_choose_the_binary(tmp_path: Path) -> None:
    """The issue's case: a cloned repository's nomadctl.toml names a mirror and its key for a
    local cluster. `up --yes` without a terminal refuses, with nothing made or downloaded."""
    (tmp_path / "evil.asc").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    (tmp_path / "nomadctl.toml").write_text(
        "[up]\nlocal = true\n"
        'releases_url = "http://127.0.0.1:9"\n'
        'release_key = "evil.asc"\n'
        f'release_key_fingerprint = "{FINGERPRINT}"\n'
    )
    proc = nomadctl(tmp_path, "up", "--yes")
    assert proc.returncode == 2, proc.stderr
    for name in ("local", "releases_url", "release_key", "release_key_fingerprint"):
        assert f"{name} = " in proc.stderr, proc.stderr
    assert "error: " in proc.stderr and "--config" in proc.stderr
    assert not (tmp_path / "me").exists()  # no ~/.nomadctl, no cache, no download


def test_found_home_needs_a_yes_for_every_command(tmp_path: Path) -> None:
    """`home` from a found file would hand the CA key to (and read state.json from) a
    directory the file's author chose: refused without a terminal, not created; the same
    home from --home, NOMADCTL_HOME or --config is the user's own."""
    evil = tmp_path / "evil-home"
    (tmp_path / "nomadctl.toml").write_text(f'home = "{evil}"\n')
    for args in (["certs"], ["status"], ["list"]):
        proc = nomadctl(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert f"home = '{evil}'" in proc.stderr and "sets home" in proc.stderr
    assert not evil.exists()
    proc = nomadctl(tmp_path, "--config", str(tmp_path / "nomadctl.toml"), "certs")
    assert proc.returncode == 0, proc.stderr
    assert (evil / "nomad" / "certificates").is_dir()
    proc = nomadctl(tmp_path, "certs", NOMADCTL_HOME=str(tmp_path / "mine"))
    assert proc.returncode == 0 and (tmp_path / "mine" / "nomad").is_dir(), proc.stderr


def test_found_cluster_needs_a_yes_to_be_deleted(tmp_path: Path) -> None:
    """A found file's `cluster` chooses what `status` shows, but not alone what `down` deletes:
    refused without a terminal, nothing touched; the same name from --cluster is the user's."""
    (tmp_path / "nomadctl.toml").write_text('cluster = "prod"\n')
    for args in (["down", "--yes"], ["recover", "--yes"]):
        proc = nomadctl(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "cluster = 'prod'" in proc.stderr, proc.stderr
    proc = nomadctl(tmp_path, "--cluster", "prod", "down", "--yes")
    assert proc.returncode == 0 and "Nothing to delete" in proc.stdout + proc.stderr, proc.stderr
