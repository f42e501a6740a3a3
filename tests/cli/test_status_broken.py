"""Issue 29 point 8: `status` tells the truth when the cluster is broken.

A local cluster (the stand-in as the binary) of three servers and one client loses two
servers (SIGKILL by pid): the survivor has no leader. `status` still shows the members (the
survivor's view), names the servers that do not answer, exits 1 and says what to run
(`nomadctl recover` when a majority is down) instead of exiting 7 on "no cluster leader"."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary

CLUSTER = "sb"


def nomadctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        "COLUMNS": "200",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def cluster(tmp_path):
    home, binary = tmp_path / "home", make_binary(tmp_path / "bin" / "nomad")
    try:
        yield home, binary
    finally:  # a leaderless cluster cannot be snapshotted: down without its final snapshot,
        nomadctl(home, "down", "--yes", "--no-snapshot")  # and nothing of ours left running
        for pid_file in (home / CLUSTER / "local").glob("*/nomad.pid"):
            with contextlib.suppress(ValueError, OSError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_status_without_a_leader_shows_members_and_names_the_silent(cluster) -> None:
    home, binary = cluster
    up = nomadctl(home, "up", "--local", "--nomad-binary", str(binary), "--clients", "1")
    assert up.returncode == 0, up.stderr
    killed = [f"{CLUSTER}-server-2", f"{CLUSTER}-server-3"]
    for name in killed:
        pid = int((home / CLUSTER / "local" / name / "nomad.pid").read_text())
        os.kill(pid, signal.SIGKILL)

    for _ in range(300):  # until the survivor sees it has no leader (its own timeouts)
        status = nomadctl(home, "status", "--json")
        if status.returncode not in (0, 1) or "no leader in region global" in status.stdout:
            break
    assert status.returncode == 1, status.stderr
    report = json.loads(status.stdout)
    assert {m["Name"] for m in report["members"]} == {
        f"{n}.global" for n in [*killed, f"{CLUSTER}-server-1"]
    }
    assert report["unreachable_servers"] == killed
    assert "nomadctl --cluster sb recover" in report["hint"]

    text = nomadctl(home, "status")
    assert text.returncode == 1
    assert f"{CLUSTER}-server-1.global" in text.stdout  # the member table
    for name in killed:
        assert f"server {name} does not answer" in text.stderr
    assert "a majority of the servers is down" in text.stderr and "recover" in text.stderr
