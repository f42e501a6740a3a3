"""Issue 29 points 7 and 8: damaged, missing or unwritable files never strand a local cluster.

Local agents (the stand-in as the binary), through the CLI as a user runs it:
- state.json damaged: `up` says so in one line (exit 3) and what to do; `down` stops every
  agent, found from its directory and pid file, without asking for an AWS region;
- state.json removed: `up` keeps the running agents where they are (their own configs say
  where), so the cluster keeps its leader;
- a read-only workspace, and one on a full disk (a small tmpfs): one line, exit 3, saying
  what to do, nothing started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary

CLUSTER = "lf"


def nomadctl(
    home: Path, *args: str, timeout: float = 120, faults: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        **({"STANDIN_FAULT_DIR": str(faults)} if faults else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def agent_pids(binary: Path) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(binary).encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
    return found


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def cluster(tmp_path):
    faults = tmp_path / "faults"  # armed by the tests that need a fault
    faults.mkdir()
    home, binary = tmp_path / "home", make_binary(tmp_path / "bin" / "nomad", fault_dir=faults)
    up = ["up", "--local", "--nomad-binary", str(binary), "--servers", "3", "--clients", "1"]
    try:
        yield home, binary, up
    finally:
        nomadctl(home, "down", "--yes")
        for pid in agent_pids(binary):
            os.kill(pid, 9)


def test_a_damaged_state_never_strands_the_agents(cluster) -> None:
    home, binary, up = cluster
    assert nomadctl(home, *up).returncode == 0
    assert len(agent_pids(binary)) == 4
    state = home / CLUSTER / "state.json"
    state.write_text(state.read_text()[:40])  # cut short: a full disk, an editor

    again = nomadctl(home, *up)
    assert again.returncode == 3
    line = one_error_line(again.stderr)
    assert str(state) in line and "move it aside" in line

    down = nomadctl(home, "down", "--yes")
    assert down.returncode == 0, down.stderr
    assert "region" not in down.stderr.lower()
    assert not agent_pids(binary), "down left local agents running"
    assert not (home / CLUSTER / "local").exists()


def test_up_without_state_keeps_running_agents_where_they_are(cluster) -> None:
    home, binary, up = cluster
    assert nomadctl(home, *up).returncode == 0
    state = home / CLUSTER / "state.json"
    before = json.loads(state.read_text())["local"]["nodes"]
    pids = agent_pids(binary)
    state.unlink()

    again = nomadctl(home, *up)
    assert again.returncode == 0, again.stderr
    assert json.loads(state.read_text())["local"]["nodes"] == before
    assert agent_pids(binary) == pids  # nothing moved, nothing restarted
    status = nomadctl(home, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["healthy"] and any(m["Tags"]["Leader"] == "true" for m in report["members"])


def test_commands_without_state_find_the_running_agents(cluster) -> None:
    """acl-bootstrap, status, env, logs and snapshot refused a running local cluster whose
    state.json was gone ("no cluster"); they find it from its agents, as up and down do."""
    home, binary, up = cluster
    assert nomadctl(home, *up).returncode == 0
    state = home / CLUSTER / "state.json"
    before = json.loads(state.read_text())
    pids = agent_pids(binary)
    for command in (
        ["acl-bootstrap"],
        ["status"],
        ["env"],
        ["logs", f"{CLUSTER}-server-1", "-n", "1"],
        ["snapshot", "save"],
    ):
        state.unlink()
        proc = nomadctl(home, *command)
        assert proc.returncode == 0, (command, proc.stderr)
        assert "was missing: rebuilt from the 4 local agent(s)" in proc.stderr, proc.stderr
    after = json.loads(state.read_text())
    for key in ("hosts", "local", "nomad", "bootstrap_expect", "provider"):
        assert after[key] == before[key], key
    assert agent_pids(binary) == pids  # found, not started again


def test_down_without_state_stops_the_agents_and_forgets_their_tokens(cluster) -> None:
    home, binary, up = cluster
    assert nomadctl(home, *up).returncode == 0
    (home / CLUSTER / "state.json").unlink()

    down = nomadctl(home, "down", "--yes")
    assert down.returncode == 0, down.stderr
    assert "region" not in down.stderr.lower()
    assert not agent_pids(binary), "down left local agents running"
    assert not (home / CLUSTER / "tokens" / "management.json").exists()

    again = nomadctl(home, *up)  # a new cluster: its own bootstrap, no stale token
    assert again.returncode == 0, again.stderr


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_an_unwritable_workspace_is_one_line(cluster, fault) -> None:
    home, binary, up = cluster
    ws = home / CLUSTER
    ws.mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    if fault == "read-only":
        _mount("-t", "tmpfs", "-o", "ro,size=64k,mode=0700", "tmpfs", str(ws))
    else:
        _mount("-t", "tmpfs", "-o", "size=16k,nr_inodes=64,mode=0700", "tmpfs", str(ws))
        with contextlib.suppress(OSError), open(ws / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    try:
        proc = nomadctl(home, *up)
    finally:
        subprocess.run(["umount", str(ws)], check=True)
    assert proc.returncode == 3, proc.stderr
    line = one_error_line(proc.stderr)
    fix = "read-write" if fault == "read-only" else "free some space"
    assert str(ws) in line and fix in line and "re-run" in line, line
    assert not agent_pids(binary)


def test_a_server_that_dies_in_its_first_start_is_reported_at_once(cluster, tmp_path) -> None:
    """Issue 29 point 8: not after the leader timeout with "no cluster leader"."""
    home, binary, up = cluster
    faults = tmp_path / "faults"  # baked into the cluster's binary
    (faults / "server-dies-in-first-start.arm").touch()
    proc = nomadctl(home, *up, "--leader-timeout", "30", faults=faults)
    assert proc.returncode != 0
    line = one_error_line(proc.stderr)
    assert "exited while the cluster was forming" in line, line
    # named, even when the reason is cut: "(lf-server-2)" when it died before it listened
    # (a failed configure), "lf-server-2: the agent exited" when the leader wait saw it die
    dead = re.search(rf"\(({CLUSTER}-server-\d)\)|^error: ({CLUSTER}-server-\d): ", line)
    assert dead is not None, line
    log = home / CLUSTER / "local" / (dead.group(1) or dead.group(2)) / "nomad.log"
    assert "fault point" in log.read_text()  # why it died: the log the error points to

    again = nomadctl(home, *up)  # the fault was met once: the re-run converges
    assert again.returncode == 0, again.stderr
    assert len(agent_pids(binary)) == 4
