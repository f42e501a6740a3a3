"""`nomadctl up --local` as a user runs it (issue 17 point 4), the stand-in as the binary:
the whole plan through the CLI, then status, env, logs, an unchanged re-run without
repeating the flags, a scale-out that restarts no one, a scale-in of clients and of servers
(3 to 1), down (no process left) and down again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary


def nomadctl(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", "lc", *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def agent_pids(binary: Path) -> set[int]:
    """Every process running our stand-in binary, from /proc (none must survive `down`)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(binary).encode() in cmdline:
                found.add(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("localcli")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    try:
        yield home, binary
    finally:
        nomadctl(home, "down", "--yes")
        for pid in agent_pids(binary):  # a failed test must not leave agents behind
            os.kill(pid, 9)


def test_up_local_status_env_logs_rerun_down(cli_cluster) -> None:
    home, binary = cli_cluster
    dry = nomadctl(home, "up", "--local", "--nomad-binary", str(binary), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["provider"] == "local" and len(plan["hosts"]) == 6
    assert not agent_pids(binary)  # a dry run starts nothing

    proc = nomadctl(home, "up", "--local", "--nomad-binary", str(binary))  # no tty, no --yes
    assert proc.returncode == 0, proc.stderr  # nothing billed, nothing of yours touched
    assert "is up: leader" in proc.stdout and "ACLs bootstrapped" in proc.stdout
    assert "sample jobs that run" in proc.stdout and "AWS" not in proc.stdout
    assert len(agent_pids(binary)) == 6

    status = nomadctl(home, "status", "--json", "--wait", "20")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert len([m for m in report["members"] if m["Status"] == "alive"]) == 3
    env = nomadctl(home, "env", "--shell", "bash")
    assert env.returncode == 0 and "NOMAD_ADDR=https://127." in env.stdout
    for name in ("NOMAD_CACERT", "NOMAD_CLIENT_CERT", "NOMAD_CLIENT_KEY", "NOMAD_TOKEN"):
        assert f"export {name}=" in env.stdout
    logs = nomadctl(home, "logs", "server-1", "-n", "5")
    assert logs.returncode == 0 and logs.stdout.count("\n") == 5, logs.stderr
    # Neither up's wait for the agents to listen nor env's look for a server that answers
    # makes a bare connect: each left "http: TLS handshake error ... EOF" in the agent's log
    # (a newcomer saw the `logs` above full of them after a few `env`)
    for log in (home / "lc" / "local").glob("lc-server-*/nomad.log"):
        assert "TLS handshake error" not in log.read_text(), log

    before = agent_pids(binary)
    again = nomadctl(home, "up", "--json")  # the recorded kind and binary: nothing repeated
    assert again.returncode == 0, again.stderr
    assert {h["status"] for h in json.loads(again.stdout)["hosts"]} == {"unchanged"}
    assert agent_pids(binary) == before

    more = nomadctl(home, "up", "--clients", "4", "--json")  # scale out: no one restarts
    assert more.returncode == 0, more.stderr
    statuses = {h["name"]: h for h in json.loads(more.stdout)["hosts"]}
    assert statuses["lc-client-4"]["status"] == "configured"
    assert not any(h["restarted"] for h in statuses.values())
    assert before < agent_pids(binary) and len(agent_pids(binary)) == 7

    fewer = nomadctl(home, "up", "--clients", "2", "--yes", "--json")
    assert fewer.returncode == 0, fewer.stderr
    assert "lc-client-4: draining" in fewer.stderr and "lc-client-3: draining" in fewer.stderr
    assert len(agent_pids(binary)) == 5
    # Removed clients are purged (issue 26 point 9): status lists only the members.
    assert "lc-client-4: purged from Nomad's node list" in fewer.stderr
    nodes = json.loads(nomadctl(home, "status", "--json").stdout)["nodes"]
    assert sorted(n["Name"] for n in nodes) == ["lc-client-1", "lc-client-2"]

    # Servers 3 -> 1: each leaves raft gracefully (SIGTERM, leave_on_terminate), one at a time.
    # Settings not given again are the last up's: clients stay 2 (not the default 3).
    dry = nomadctl(home, "up", "--servers", "1", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["kept"] == {"clients": 2}
    one = nomadctl(home, "up", "--servers", "1", "--yes", "--json")
    assert one.returncode == 0, one.stderr
    assert one.stderr.count("left raft and serf gracefully") == 2, one.stderr
    assert len(agent_pids(binary)) == 3
    status = nomadctl(home, "status", "--json", "--wait", "20")
    assert status.returncode == 0, status.stderr
    members = json.loads(status.stdout)["members"]
    assert [m["Name"] for m in members if m["Status"] == "alive"] == ["lc-server-1.global"]

    down = nomadctl(home, "down", "--yes")
    assert down.returncode == 0, down.stderr
    assert not agent_pids(binary)
    assert not list((home / "lc").glob("local/*/data"))
    second = nomadctl(home, "down", "--yes")
    assert second.returncode == 0 and "Nothing to delete" in second.stdout
    fresh = nomadctl(home, "up", "--local", "--nomad-binary", str(binary), "--dry-run", "--json")
    assert fresh.returncode == 0, fresh.stderr  # a cluster that is gone leaves no settings
    assert json.loads(fresh.stdout)["kept"] == {} and len(json.loads(fresh.stdout)["hosts"]) == 6
