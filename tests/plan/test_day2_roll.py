"""Day 2 on hosts you already have: scale out restarts nothing, an upgrade rolls (issue 18).

Real: OpenSSH servers in network namespaces, TLS, the Nomad API over HTTPS. Stand-in: the
`nomad` binary (two builds: 1.11.0, then 1.11.1 as the upgrade), with drain, eligibility
and autopilot health as Nomad has them (tests/standin/agent/day2.py, drain.py).
One cluster for the module; the tests run in order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from nomadctl.hosts import Host
from nomadctl.node import configure, render
from nomadctl.node import order as rollout
from tests.standin import make_binary

pytestmark = pytest.mark.testbed


class Cluster:
    def __init__(self, tb, home: Path, old: Path, new: Path) -> None:
        self.tb, self.home, self.old, self.new = tb, home, old, new
        self.servers, self.clients = tb.hosts[:3], tb.hosts[3:5]

    def up(self, binary: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        args = ["up", "--yes", "--json", "--no-docker", "--ssh-user", "ubuntu"]
        args += ["--ssh-key", str(self.tb.key_path), "--nomad-binary", str(binary)]
        args += ["--leader-timeout", "60"]
        for h in self.servers:
            args += ["--server", h.address]
        for h in self.clients:
            args += ["--client", h.address]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            "NOMADCTL_HOME": str(self.home),
            "NOMADCTL_CLUSTER": "roll",
            "COLUMNS": "200",
        }
        return subprocess.run(
            [sys.executable, "-m", "nomadctl", *args, *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
        )

    def pids(self, hosts) -> list[int | None]:
        return [self.tb.unit_pid(h) for h in hosts]

    def api(self, address: str | None = None, timeout: float = 5.0):
        from nomadctl.cluster.api import Api
        from nomadctl.cluster.target import workspace_target
        from nomadctl.workspace import Workspace

        target = workspace_target(Workspace(self.home, "roll"), timeout=timeout)
        if address is not None:
            target = replace(target, addresses=[f"https://{address}:4646"])
        return Api(target)


@pytest.fixture(scope="module")
def cluster(testbed_factory_module, tmp_path_factory) -> Cluster:
    tb = testbed_factory_module(6)
    tmp = tmp_path_factory.mktemp("roll")
    old = make_binary(tmp / "nomad-1.11.0", version="1.11.0")
    new = make_binary(tmp / "nomad-1.11.1", version="1.11.1")
    return Cluster(tb, tmp / "home", old, new)


def test_join_settings_alone_restart_nothing() -> None:
    """bootstrap_expect, retry_join and client servers live in join.hcl, read at start."""
    servers = [Host(f"c-server-{i}", "server", f"198.18.1.{i}") for i in (1, 2, 3)]
    facts = render.ClusterFacts(gossip_key="k", servers=servers)
    more = replace(facts, servers=[*servers, Host("c-server-4", "server", "198.18.1.4")])
    tls = configure.NodeTls(b"CA", b"C", b"K")
    for host in (servers[0], Host("c-client-1", "client", "198.18.1.9")):
        before = {f.path: f for f in configure.node_files(facts, host, tls, b"B")}
        after = configure.node_files(more, host, tls, b"B")
        changed = [f for f in after if before[f.path] != f]
        assert [f.path for f in changed] == [render.JOIN_PATH]
        assert not configure.needs_restart(changed)
        assert "bootstrap_expect" not in before["/etc/nomad.d/nomad.hcl"].content.decode()
    assert configure.needs_restart([configure.RemoteFile("/etc/nomad.d/nomad.hcl", b"x", 0o600)])
    # The bootstrapped count is kept, except 1: that server count bootstraps on its own.
    assert rollout.bootstrap_expect(3, 5) == 3
    assert rollout.bootstrap_expect(1, 3) == 3
    assert rollout.bootstrap_expect(None, 3) == 3


def test_scale_out_restarts_no_existing_agent(cluster: Cluster) -> None:
    proc = cluster.up(cluster.old)
    assert proc.returncode == 0, proc.stderr
    existing = cluster.servers + cluster.clients
    before = cluster.pids(existing)
    assert None not in before
    cluster.clients = cluster.tb.hosts[3:6]
    proc = cluster.up(cluster.old)
    assert proc.returncode == 0, proc.stderr
    status = {h["name"]: h["status"] for h in json.loads(proc.stdout)["hosts"]}
    assert status.pop("roll-client-3") == "configured"
    assert set(status.values()) == {"unchanged"}
    assert cluster.pids(existing) == before
    assert cluster.tb.unit_pid(cluster.tb.hosts[5]) is not None
    join = cluster.tb.read_file(cluster.servers[0], render.JOIN_PATH).decode()
    assert "bootstrap_expect = 3" in join
    assert json.loads((cluster.home / "roll" / "state.json").read_text())["bootstrap_expect"] == 3


class Watch:
    """Polls every server's API in a loop: which of them answer at each moment."""

    def __init__(self, cluster: Cluster) -> None:
        self.apis = [cluster.api(h.address, timeout=1.0) for h in cluster.servers]
        self.rounds: list[list[bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def answers(self, api) -> bool:
        from nomadctl.cluster.api import NoLeader
        from nomadctl.errors import ClusterApiError

        try:
            api.leader()
        except NoLeader:
            return True  # answered (between two leaders)
        except ClusterApiError:
            return False
        return True

    def run(self) -> None:
        while not self.stop.is_set():
            self.rounds.append([self.answers(a) for a in self.apis])
            self.stop.wait(0.02)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_upgrade_rolls_servers_then_drains_clients(cluster: Cluster) -> None:
    leader = cluster.api().leader().rsplit(":", 1)[0]
    leader_name = next(
        f"roll-server-{i + 1}" for i, h in enumerate(cluster.servers) if h.address == leader
    )
    before = cluster.pids(cluster.tb.hosts)
    with Watch(cluster) as watch:
        proc = cluster.up(cluster.new)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert all(h["status"] == "configured" and h["restarted"] for h in report["hosts"])
    after = cluster.pids(cluster.tb.hosts)
    assert all(a is not None and a != b for a, b in zip(after, before, strict=True))
    # Quorum at every moment: at least 2 of 3 servers answered in every polling round, and
    # some round saw one of them down (the watch did see the restarts).
    assert len(watch.rounds) > 20
    assert min(sum(r) for r in watch.rounds) >= 2, watch.rounds
    assert any(sum(r) == 2 for r in watch.rounds)
    # One at a time, the leader last; then every client drained before its restart.
    restarts = re.findall(r"(roll-\w+-\d): restarting", proc.stderr)
    assert restarts[:3] != [] and restarts[2] == leader_name, proc.stderr
    assert sorted(restarts[:3]) == ["roll-server-1", "roll-server-2", "roll-server-3"]
    assert sorted(restarts[3:]) == ["roll-client-1", "roll-client-2", "roll-client-3"]
    for name in restarts[3:]:
        assert proc.stderr.index(f"{name}: draining") < proc.stderr.index(f"{name}: restarting")
    api = cluster.api()
    from nomadctl.cluster import operations

    nodes = {n["Name"]: n for n in api.nodes()}
    for name in restarts[3:]:
        node = operations.node(api, nodes[name]["ID"])
        assert (node.get("LastDrain") or {}).get("Status") == "complete", node
        assert node["SchedulingEligibility"] == "eligible" and node["DrainStrategy"] is None
    for host in cluster.tb.hosts:
        assert cluster.tb.read_file(host, "/usr/local/bin/nomad") == cluster.new.read_bytes()
    # A re-run finds everything done.
    again = cluster.up(cluster.new)
    assert again.returncode == 0, again.stderr
    assert {h["status"] for h in json.loads(again.stdout)["hosts"]} == {"unchanged"}
    assert cluster.pids(cluster.tb.hosts) == after
