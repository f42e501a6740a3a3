"""Scale in by re-running `up` with fewer nodes (issue 18 point 2), on hosts you already
have: five real SSH hosts, stand-in agents. Clients are drained through Nomad's API before
their agent stops; servers leave gracefully one at a time (5 to 3 to 1), never to an even
count; the plan names who goes, and nothing is forgotten while it still runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.standin import make_binary

pytestmark = pytest.mark.testbed


class Cluster:
    def __init__(self, tb, home: Path, binary: Path) -> None:
        self.tb, self.home, self.binary = tb, home, binary

    def run(self, *args: str):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            "NOMADCTL_HOME": str(self.home),
            "NOMADCTL_CLUSTER": "si",
        }
        return subprocess.run(
            [sys.executable, "-m", "nomadctl", *args],
            capture_output=True, text=True, env=env, timeout=240,
        )  # fmt: skip

    def up(self, servers: list[int], clients: list[int], *extra: str):
        args = ["up", "--json", "--no-docker", "--ssh-key", str(self.tb.key_path)]
        args += ["--nomad-binary", str(self.binary), "--leader-timeout", "60"]
        args += ["--drain-deadline", "5"]
        for i in servers:
            args += ["--server", self.tb.hosts[i].address]
        for i in clients:
            args += ["--client", self.tb.hosts[i].address]
        return self.run(*args, *extra)

    def state(self) -> dict:
        return json.loads((self.home / "si" / "state.json").read_text())


@pytest.fixture(scope="module")
def cluster(testbed_factory_module, tmp_path_factory) -> Cluster:
    tb = testbed_factory_module(6)
    tmp = tmp_path_factory.mktemp("scalein")
    c = Cluster(tb, tmp / "home", make_binary(tmp / "nomad"))
    proc = c.up([0, 1, 2, 3, 4], [5], "--yes")
    assert proc.returncode == 0, proc.stderr
    return c


def test_fewer_clients_drains_then_removes(cluster: Cluster) -> None:
    tb = cluster.tb
    gone = tb.hosts[5]
    servers = [0, 1, 2, 3, 4]
    dry = cluster.up(servers, [], "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert [h["name"] for h in plan["hosts"] if h["action"] == "remove"] == ["si-client-1"]
    refused = cluster.up(servers, [])  # removing a node needs a yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    keep_pids = [tb.unit_pid(h) for h in tb.hosts[:5]]

    proc = cluster.up(servers, [], "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "si-client-1: draining" in proc.stderr
    steps = {s["name"]: s for s in json.loads(proc.stdout)["steps"]}
    assert steps["scale in"]["status"] == "done"
    assert tb.unit_pid(gone) is None
    assert tb.exec(gone, ["test", "-e", "/etc/nomad.d/nomad.hcl"], check=False).returncode != 0
    assert [tb.unit_pid(h) for h in tb.hosts[:5]] == keep_pids  # no one else restarted
    state = cluster.state()
    assert [h["name"] for h in state["hosts"]] == [f"si-server-{i}" for i in range(1, 6)]
    assert not state.get("leaving")
    status = cluster.run("status", "--json", "--wait", "20")
    nodes = {n["Name"]: n for n in json.loads(status.stdout)["nodes"]}
    # drained before its agent stopped, then purged: status lists only members (issue 26)
    assert proc.stderr.index("si-client-1: draining") < proc.stderr.index("si-client-1: purged")
    assert "si-client-1" not in nodes


class LeaderWatch:
    """Asks one server for the leader in a loop: was there one at every moment?"""

    def __init__(self, cluster: Cluster, address: str) -> None:
        from dataclasses import replace

        from nomadctl.cluster.api import Api
        from nomadctl.cluster.target import workspace_target
        from nomadctl.workspace import Workspace

        target = workspace_target(Workspace(cluster.home, "si"), timeout=1.0)
        self.api = Api(replace(target, addresses=[f"https://{address}:4646"]))
        self.seen: list[bool] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from nomadctl.errors import NomadctlError

        while not self.stop.is_set():
            try:
                self.seen.append(bool(self.api.leader()))
            except NomadctlError:  # NoLeader, or no answer
                self.seen.append(False)
            self.stop.wait(0.02)

    def __enter__(self) -> LeaderWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_servers_leave_gracefully_one_at_a_time_down_to_one(cluster: Cluster) -> None:
    tb = cluster.tb
    even = cluster.up([0, 1, 2, 3], [], "--yes")
    assert even.returncode == 2 and "odd" in even.stderr
    assert all(tb.unit_pid(h) is not None for h in tb.hosts[:5])  # refused before any change

    proc = cluster.up([0, 1, 2], [], "--yes")
    assert proc.returncode == 0, proc.stderr
    assert [tb.unit_pid(h) is None for h in tb.hosts[:5]] == [False] * 3 + [True] * 2
    order = [line for line in proc.stderr.splitlines() if line.strip().endswith(": removed")]
    assert len(order) == 2
    assert proc.stderr.count("left raft and serf gracefully") == 2, proc.stderr
    status = cluster.run("status", "--json", "--wait", "30")
    assert status.returncode == 0, status.stderr
    members = json.loads(status.stdout)["members"]
    alive = sorted(m["Name"] for m in members if m["Status"] == "alive")
    assert alive == [f"si-server-{i}.global" for i in (1, 2, 3)]
    assert not cluster.state().get("leaving")

    # The last leave, 2 voters to 1, loses the quorum if it fails (quorum.check: raft's
    # source): the plan says it goes only when both answer, after a snapshot, and without
    # the snapshot (--no-snapshot) it is refused before anything changes.
    dry = cluster.up([0], [], "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert "two servers to one, only when both answer and name the same leader" in dry.stdout
    bare = cluster.up([0], [], "--yes", "--no-snapshot")
    assert bare.returncode == 2 and "without --no-snapshot" in bare.stderr, bare.stderr
    assert all(tb.unit_pid(h) is not None for h in tb.hosts[:3])

    # 3 -> 1 passes through 2 voters: each server leaves raft while it still answers, so the
    # one that stays never loses its quorum (a stopped-then-removed server would take it).
    with LeaderWatch(cluster, tb.hosts[0].address) as watch:
        proc = cluster.up([0], [], "--yes")
    assert proc.returncode == 0, proc.stderr
    assert watch.seen and all(watch.seen), f"{watch.seen.count(False)} of {len(watch.seen)}"
    assert proc.stderr.count("left raft and serf gracefully") == 2, proc.stderr
    assert [tb.unit_pid(h) is None for h in tb.hosts[:3]] == [False, True, True]
    status = cluster.run("status", "--json", "--wait", "30")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    alive = [m["Name"] for m in report["members"] if m["Status"] == "alive"]
    assert alive == ["si-server-1.global"]
    from nomadctl.cluster import operations

    health = operations.autopilot_health(watch.api)
    assert health.healthy and [s.get("Voter") for s in health.servers] == [True]
    assert [h["name"] for h in cluster.state()["hosts"]] == ["si-server-1"]
