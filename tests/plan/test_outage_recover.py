"""`nomadctl recover` (issue 24 point 4) on local agents, the stand-in as the binary: two of
three servers killed for good (SIGKILL by pid, data dirs removed) leave no leader; recover
on the survivor makes it leader alone with its data (a job registered before is still
there); the next `up` brings the count back to three. Refused while a leader exists, without
a terminal and --yes, and when a majority still has its data; bad input is one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.providers.aws.test_lifecycle import exported_env
from tests.providers.local.test_local_cli import agent_pids
from tests.standin import make_binary
from tests.standin.harness import wait_for
from tests.terminal import run_on_terminal

CLUSTER = "rc"
LIST_JOBS = """
import json, os, sys, nomad
n = nomad.Nomad(verify=os.environ["NOMAD_CACERT"], timeout=10)
for job in json.load(sys.stdin):
    n.jobs.register_job({"Job": job})
print(json.dumps(sorted(j["ID"] for j in n.jobs.get_jobs())))
"""
JOB = {
    "ID": "kept",
    "Name": "kept",
    "Type": "service",
    "Datacenters": ["*"],
    "NodePool": "default",
    "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{"Name": "t", "Driver": "exec"}]}],
}


def nomadctl(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def jobs(home: Path, register: list[dict] | None = None) -> list[str]:
    """Register `register` and list the jobs, with python-nomad and the management token."""
    lines = nomadctl(home, "env", "--management", "--shell", "bash")
    assert lines.returncode == 0, lines.stderr
    py = subprocess.run(
        [sys.executable, "-c", LIST_JOBS],
        input=json.dumps(register or []),
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **exported_env(lines.stdout)},
        timeout=60,
    )
    assert py.returncode == 0, py.stderr
    return json.loads(py.stdout)


def node(home: Path, name: str) -> Path:
    return home / CLUSTER / "local" / name


def server_pid(home: Path, name: str) -> int:
    return int((node(home, name) / "nomad.pid").read_text())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    tmp = tmp_path_factory.mktemp("recover")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    try:
        up = nomadctl(home, "up", "--local", "--nomad-binary", str(binary), "--clients", "1")
        assert up.returncode == 0, up.stderr
        yield home, binary
    finally:
        nomadctl(home, "down", "--yes")
        for pid in agent_pids(binary):  # a failed test must not leave agents behind
            os.kill(pid, signal.SIGKILL)


def test_refused_while_the_cluster_has_a_leader(cluster: tuple[Path, Path]) -> None:
    home, binary = cluster
    before = agent_pids(binary)
    proc = nomadctl(home, "recover", "--yes")
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "has a leader" in lines[0], proc.stderr
    assert "nothing to recover" in lines[0]
    assert agent_pids(binary) == before  # nobody stopped


def test_bad_input_is_one_line(cluster: tuple[Path, Path], tmp_path: Path) -> None:
    home, _ = cluster
    proc = nomadctl(home, "recover", "--timeout", "0")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--timeout" in proc.stderr
    other = nomadctl(tmp_path, "recover", "--yes")  # no such cluster: nothing is created
    assert other.returncode == 3 and other.stderr.count("\n") == 1, other.stderr
    assert not (tmp_path / CLUSTER).exists()


def test_two_servers_lost_for_good_recover_then_up(cluster: tuple[Path, Path]) -> None:
    home, binary = cluster
    assert jobs(home, [JOB]) == ["kept"]
    survivor, lost = f"{CLUSTER}-server-1", [f"{CLUSTER}-server-2", f"{CLUSTER}-server-3"]

    # Two servers killed, one with its data: no leader, but a majority still has its data
    # (the killed one elects again once it runs), so recover refuses and says why.
    os.killpg(server_pid(home, lost[0]), signal.SIGKILL)
    shutil.rmtree(node(home, lost[0]) / "data")
    os.killpg(server_pid(home, lost[1]), signal.SIGKILL)
    refused = wait_for(
        lambda: (
            (p := nomadctl(home, "recover", "--dry-run")).returncode == 1
            and "a majority" in p.stderr
            and p
        ),
        timeout=30,
        what="recover finding no leader and refusing: a majority still has its data",
    )
    assert "2 of 3 servers" in refused.stderr and refused.stderr.count("error:") == 1

    # The second one's data goes too: two of three gone for good.
    shutil.rmtree(node(home, lost[1]) / "data")
    survivor_pid = server_pid(home, survivor)

    no_tty = nomadctl(home, "recover")  # no terminal, no --yes: refused, nothing touched
    assert no_tty.returncode == 2, no_tty.stderr
    assert no_tty.stderr.splitlines()[-1].startswith("error:") and "--yes" in no_tty.stderr
    assert server_pid(home, survivor) == survivor_pid
    assert not list(node(home, survivor).glob("data/server/raft/peers.json"))

    dry = nomadctl(home, "recover", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["survivors"] == [survivor] and plan["gone"] == lost
    node_id = (node(home, survivor) / "data" / "server" / "node-id").read_text().strip()
    assert [p["id"] for p in plan["peers_json"]] == [node_id]

    env = {"PATH": "/usr/bin:/bin", "NOMADCTL_HOME": str(home)}
    env |= {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    asked = run_on_terminal(  # on a terminal it asks first; "n" changes nothing
        [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, "recover"],
        env=env, cwd=home, prompt="Recover cluster", answer="n",
    )  # fmt: skip
    assert asked.prompted and asked.returncode == 1, asked.terminal
    assert "write peers.json" in asked.terminal and "nothing was changed" in asked.terminal
    assert server_pid(home, survivor) == survivor_pid

    done = nomadctl(home, "recover", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["leader"] == plan["peers_json"][0]["address"]
    assert "stop" in done.stderr and "peers.json" in done.stderr
    assert server_pid(home, survivor) != survivor_pid  # stopped and started again
    raft = node(home, survivor) / "data" / "server" / "raft"
    assert not (raft / "peers.json").exists()  # applied and deleted, as Nomad does
    log = (node(home, survivor) / "nomad.log").read_text()
    assert "deleted peers.json file after successful recovery" in log
    assert jobs(home) == ["kept"]  # the survivor's data
    snap = Path(result["snapshot"])  # once a leader exists again, a snapshot of it
    assert snap.parent == home / CLUSTER / "snapshots" and snap.stat().st_mode & 0o777 == 0o600
    assert "snapshot after recovery" in done.stderr

    again = nomadctl(home, "recover", "--yes")  # a leader now: nothing to recover
    assert again.returncode == 1 and "has a leader" in again.stderr

    up = nomadctl(home, "up", "--yes", "--json")
    assert up.returncode == 0, up.stderr
    status = nomadctl(home, "status", "--json", "--wait", "60")
    assert status.returncode == 0, status.stderr
    members = json.loads(status.stdout)["members"]
    assert sorted(m["Name"] for m in members if m["Status"] == "alive") == [
        f"{CLUSTER}-server-{i}.global" for i in (1, 2, 3)
    ]
    assert jobs(home) == ["kept"]
    assert len(agent_pids(binary)) == 4
