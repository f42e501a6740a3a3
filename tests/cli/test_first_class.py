"""Local and hosts clusters are first-class (issue 26 point 4), on a machine with no AWS set
up: `list` shows the clusters of the nomadctl home (provider, where, node counts, healthy)
with no AWS error; `down` of a cluster that does not exist says "Nothing to delete" and
exits 0; a wrong `--cluster` is told which clusters exist; `up` without AWS suggests `--local`.

Real parts: the CLI as a process, a local cluster of stand-in agents (one server, one client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary

NO_AWS = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
          "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}  # fmt: skip


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
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
