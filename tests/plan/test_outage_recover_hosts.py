"""`nomadctl recover` over SSH (issue 24 point 4) on hosts you already have: three real sshd
hosts in the testbed, the stand-in as the uploaded binary run by the systemctl shim. Two of
three servers lost for good (one's agent killed and data dir removed; the other's too, and
the machine unplugged while recover runs): recover finds the survivor over SSH, reads its
raft ID from /opt/nomad/data/server/node-id, stops it with `systemctl stop nomad`, writes
peers.json and starts it; it leads alone with its data; the next `up` brings three back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.providers.aws.test_lifecycle import exported_env
from tests.standin import make_binary
from tests.standin.harness import wait_for

pytestmark = pytest.mark.testbed

CLUSTER = "rh"
JOB = {
    "ID": "kept",
    "Name": "kept",
    "Type": "service",
    "Datacenters": ["*"],
    "NodePool": "default",
    "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{"Name": "t", "Driver": "exec"}]}],
}
JOBS = """
import json, os, sys, nomad
n = nomad.Nomad(verify=os.environ["NOMAD_CACERT"], timeout=10)
for job in json.load(sys.stdin):
    n.jobs.register_job({"Job": job})
print(json.dumps(sorted(j["ID"] for j in n.jobs.get_jobs())))
"""


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        "NOMADCTL_HOME": str(home),
        "NOMADCTL_CLUSTER": CLUSTER,
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True, text=True, env=env, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def jobs(home: Path, register: list[dict] | None = None) -> list[str]:
    lines = run(home, "env", "--management", "--shell", "bash")
    assert lines.returncode == 0, lines.stderr
    py = subprocess.run(
        [sys.executable, "-c", JOBS],
        input=json.dumps(register or []), capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], **exported_env(lines.stdout)},
    )  # fmt: skip
    assert py.returncode == 0, py.stderr
    return json.loads(py.stdout)


def test_recover_over_ssh_then_up(testbed_factory, tmp_path: Path) -> None:
    tb = testbed_factory(3)
    home, binary = tmp_path / "home", make_binary(tmp_path / "nomad")
    up = ["up", "--json", "--no-docker", "--ssh-key", str(tb.key_path)]
    up += ["--nomad-binary", str(binary), "--leader-timeout", "60", "--yes"]
    for h in tb.hosts:
        up += ["--server", h.address]
    first = run(home, *up)
    assert first.returncode == 0, first.stderr
    assert jobs(home, [JOB]) == ["kept"]

    survivor, lost = tb.hosts[0], tb.hosts[1:]
    for h in lost:  # lost for good: the agent killed, its data gone
        tb.kill_unit(h)
        tb.exec(h, ["rm", "-rf", "/opt/nomad/data"])
    tb.net_down(lost[1])  # and that machine unreachable as well
    try:
        dry = wait_for(  # the survivor sees the leader gone once its heartbeats fail
            lambda: (p := run(home, "recover", "--dry-run", "--json")).returncode == 0 and p,
            timeout=60,
            what="recover finding no leader",
        )
        plan = json.loads(dry.stdout)
        assert plan["survivors"] == [f"{CLUSTER}-server-1"]
        node_id = tb.read_file(survivor, "/opt/nomad/data/server/node-id").decode().strip()
        assert plan["peers_json"] == [
            {"id": node_id, "address": f"{survivor.address}:4647", "non_voter": False}
        ]
        why = {s["name"]: s["why"] for s in plan["servers"]}
        assert "does not answer SSH" in why[f"{CLUSTER}-server-3"]
        assert "data is gone" in why[f"{CLUSTER}-server-2"]
        before = tb.unit_pid(survivor)

        done = run(home, "recover", "--yes", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["leader"] == f"{survivor.address}:4647"
        assert "must not come back with its old data" in done.stderr  # the unplugged one
        assert tb.unit_pid(survivor) not in (None, before)  # stopped and started again
        assert tb.read_file(survivor, "/opt/nomad/data/server/raft/peers.json") is None
        assert "deleted peers.json file after successful recovery" in tb.unit_log(survivor)
        assert jobs(home) == ["kept"]
    finally:
        tb.net_up(lost[1])  # a new machine at the same address

    back = run(home, *up)
    assert back.returncode == 0, back.stderr
    status = run(home, "status", "--json", "--wait", "60")
    assert status.returncode == 0, status.stderr
    alive = [m["Name"] for m in json.loads(status.stdout)["members"] if m["Status"] == "alive"]
    assert sorted(alive) == [f"{CLUSTER}-server-{i}.global" for i in (1, 2, 3)]
    assert jobs(home) == ["kept"]


def test_recover_on_aws_goes_the_same_ssh_way(aws_env, testbed_factory, tmp_path: Path) -> None:
    """AWS (moto behind the strict layer, the instances' private IPs the testbed's hosts):
    the same SSH steps, the hosts found in state.json, reached by their private address."""
    from tests.providers.aws.test_lifecycle import CONFIGURE, SUBNET, up_args

    tb = testbed_factory(4, subnet=SUBNET)
    binary = make_binary(tmp_path / "nomad", version="1.11.1")

    def run_aws(*args: str) -> subprocess.CompletedProcess[str]:
        return aws_env.nomadctl("--cluster", "ra", *args, timeout=300, env=CONFIGURE)

    up = up_args(tb, binary, "--servers", "3", "--clients", "1")
    first = run_aws(*up)
    assert first.returncode == 0, first.stderr
    servers = [h for h in json.loads(first.stdout)["hosts"] if h["role"] == "server"]
    survivor, lost = servers[0], servers[1:]
    for h in lost:
        tb.kill_unit(tb.host(h["private_ip"]))
        tb.exec(tb.host(h["private_ip"]), ["rm", "-rf", "/opt/nomad/data"])
    dry = wait_for(
        lambda: (p := run_aws("recover", "--dry-run", "--json")).returncode == 0 and p,
        timeout=60,
        what="recover finding no leader",
    )
    assert json.loads(dry.stdout)["survivors"] == [survivor["name"]]
    done = run_aws("recover", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["leader"] == f"{survivor['private_ip']}:4647"

    back = run_aws(*up)
    assert back.returncode == 0, back.stderr
    status = run_aws("status", "--json", "--wait", "60")
    assert status.returncode == 0, status.stderr
    members = json.loads(status.stdout)["members"]
    assert len([m for m in members if m["Status"] == "alive"]) == 3
    assert run_aws("down", "--yes").returncode == 0
