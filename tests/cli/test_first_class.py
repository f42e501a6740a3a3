"""Local and hosts clusters are first-class (issue 26 point 4), on a machine with no AWS set
up: `list` shows the clusters of the nomadctl home (provider, where, node counts, healthy)
with no AWS error; `down` of a cluster that does not exist says "Nothing to delete" and
exits 0; a wrong `--cluster` is told which clusters exist; `up` without AWS suggests `--local`.
One current cluster (point 5): `use NAME` sets it, `env` exports NOMADCTL_CLUSTER, each
command's first line names the cluster, and NOMAD_* variables that point at that same cluster
draw no "ignoring" note.

Real parts: the CLI as a process, a local cluster of stand-in agents (one server, one client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nomadctl.workspace import Workspace
from tests.standin import make_binary

NO_AWS = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
          "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}  # fmt: skip


def run(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **extra,
        "PATH": "/usr/bin:/bin",
        "HOME": str(home.parent),
        "NOMADCTL_HOME": str(home),
        **NO_AWS,
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("firstclass")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    up = run(home, "--cluster", "dev", "up", "--local", "--servers", "1", "--clients", "1",
             "--nomad-binary", str(binary))  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        assert run(home, "--cluster", "dev", "status", "--wait", "30").returncode == 0
        yield home
    finally:
        run(home, "--cluster", "dev", "down", "--yes")


def test_list_shows_the_local_cluster_without_aws(home: Path) -> None:
    proc = run(home, "list")
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr
    assert "note: AWS clusters not listed (no AWS region" in proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.split()[:1] == ["dev"])
    assert row.split()[:7] == ["dev", "local", "on", "this", "machine", "1", "1"], row
    assert row.split()[7] == "yes", row  # healthy
    listed = json.loads(run(home, "list", "--json").stdout)
    assert listed == [
        {"cluster": "dev", "provider": "local", "where": "on this machine", "servers": 1,
         "clients": 1, "healthy": True, "problem": ""}
    ]  # fmt: skip


def test_a_cluster_taken_down_is_listed_with_what_brings_it_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Workspace(home, "old").save_state({"provider": "local"})  # what `down` keeps
    listed = json.loads(run(home, "list", "--json").stdout)
    back = "no nodes: `nomadctl --cluster old up` makes them"
    assert listed == [
        {"cluster": "old", "provider": "local", "where": "on this machine", "servers": 0,
         "clients": 0, "healthy": None, "problem": back}
    ]  # fmt: skip


def test_down_of_a_cluster_that_does_not_exist_is_nothing_to_delete(home: Path) -> None:
    proc = run(home, "--cluster", "dve", "down", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"Nothing to delete: no cluster 'dve' in {home}."
    assert f"clusters in {home}: dev" in proc.stderr
    assert not (home / "dve").exists()


@pytest.mark.parametrize("command", [("status",), ("env",), ("logs", "server-1")])
def test_a_wrong_cluster_lists_those_that_exist(home: Path, command: tuple[str, ...]) -> None:
    proc = run(home, "--cluster", "dve", *command)
    assert proc.returncode == 3, proc.stderr
    assert f"no cluster 'dve' in {home}" in proc.stderr
    assert f"clusters in {home}: dev)" in proc.stderr


def test_up_without_aws_suggests_local(tmp_path: Path) -> None:
    proc = run(tmp_path / "home", "up", "--yes")
    assert proc.returncode == 5
    assert "no AWS region" in proc.stderr and "`nomadctl up --local`" in proc.stderr


def shown(home: Path, *args: str, **extra: str) -> list[str]:
    """What a terminal shows of the command (stdout and stderr on one pty), line by line."""
    from tests.terminal import run_with_tty

    tree = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home.parent), "NOMADCTL_HOME": str(home),
           "TERM": "xterm", **NO_AWS, **extra, **tree}  # fmt: skip
    code, text = run_with_tty([sys.executable, "-m", "nomadctl", *args], env)
    assert code == 0, text
    return [line for line in text.splitlines() if line.strip()]


def exported(env_output: str) -> dict[str, str]:
    """What `eval "$(nomadctl env)"` would set (bash `export NAME=value` lines)."""
    import shlex

    out = {}
    for line in env_output.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        out[name] = shlex.split(value)[0]
    return out


def test_one_current_cluster(home: Path) -> None:
    # `--cluster dev env`, evaluated: nomadctl's own commands then act on dev too
    env = run(home, "--cluster", "dev", "env", "--shell", "bash")
    assert env.returncode == 0, env.stderr
    values = exported(env.stdout)
    assert values["NOMADCTL_CLUSTER"] == "dev"
    assert "cluster 'dev'" not in env.stderr  # a pipe: no progress line
    assert shown(home, "--cluster", "dev", "env")[0] == "cluster 'dev' (--cluster)"
    status = run(home, "status", **values)
    assert status.returncode == 0, status.stderr
    assert shown(home, "status", **values)[0] == "cluster 'dev' (NOMADCTL_CLUSTER)"
    assert "ignoring" not in status.stderr  # they name the same cluster
    elsewhere = run(home, "status", **{**values, "NOMAD_ADDR": "https://127.0.0.1:1"})
    assert "note: ignoring NOMAD_ADDR from the environment" in elsewhere.stderr

    # `use dev`: the default from now on, said by every command
    assert run(home, "use").stdout.strip() == "nomad"
    chosen = run(home, "use", "dev")
    assert chosen.returncode == 0, chosen.stderr
    assert (home / "current-cluster").read_text() == "dev\n"
    assert (home / "current-cluster").stat().st_mode & 0o777 == 0o600
    assert run(home, "use").stdout.strip() == "dev"
    assert shown(home, "status")[0] == "cluster 'dev' (nomadctl use)"
    assert shown(home, "logs", "server-1", "-n", "1")[0] == "cluster 'dev' (nomadctl use)"
    assert run(home, "--cluster", "nomad", "use", "nomad").returncode == 0
    assert run(home, "use").stdout.strip() == "nomad"
    # in a shell where `nomadctl env` was evaluated, `use` says what chose the cluster and
    # that it wins over `use NAME` (it said "`nomadctl use NAME` sets it")
    current = run(home, "use", **values)
    assert current.stdout.strip() == "dev", current.stderr
    assert "(NOMADCTL_CLUSTER; set in this shell, e.g. by `nomadctl env`; it wins over " in (
        current.stderr
    )


def test_doctor_compares_the_clock_with_the_cluster(home: Path) -> None:
    proc = run(home, "--cluster", "dev", "doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    clock = next(f for f in json.loads(proc.stdout) if f["check"] == "clock")
    assert clock == {"check": "clock", "level": "ok", "detail": "within 5s of cluster 'dev'",
                     "fix": "", "applies": "all"}  # fmt: skip


def test_doctor_names_the_binary_the_clusters_agents_run(home: Path) -> None:
    """Not "none at hand yet" while the cluster's agents run a binary `up` keeps."""
    proc = run(home, "--cluster", "dev", "doctor", "--json")
    found = next(f for f in json.loads(proc.stdout) if f["check"] == "nomad binary")
    binary = home.parent / "bin" / "nomad"
    assert found["level"] == "ok", found
    assert found["detail"] == f"Nomad 1.11.0 that the cluster's agents run ({binary}); " + (
        "`up --local` keeps it"
    )
