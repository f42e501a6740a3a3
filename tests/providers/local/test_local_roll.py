"""Local agents roll as hosts do (issue 29 points 2-4): a changed config restarts the servers
one at a time with quorum measured before each, clients drained in batches; a server killed
by PID mid-roll stops the roll before the next server is touched; nomadctl killed (SIGKILL)
just after a client's restart leaves nothing ineligible once `up` runs again.

Real: processes, TLS, the API over HTTPS, `nomadctl` as a user runs it. Stand-in: `nomad`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from nomadctl.cluster import operations
from nomadctl.cluster.api import Api
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import NomadctlError
from nomadctl.hosts import hosts_of
from nomadctl.node import fleet, render
from nomadctl.node.order import RolloutOptions
from nomadctl.pki import store
from nomadctl.providers.local import proc
from nomadctl.providers.local.provider import LocalOptions, LocalProvider
from nomadctl.workspace import Workspace
from tests.providers.local.test_local import configure
from tests.providers.local.test_local_cli import agent_pids
from tests.standin import make_binary
from tests.standin.harness import wait_for

CLUSTER = "roll"


def nomadctl(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        "COLUMNS": "200",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run(home: Path, *args: str) -> tuple[int, str, str]:
    p = nomadctl(home, *args)
    out, err = p.communicate(timeout=240)
    return p.returncode, out, err


@dataclass
class Local:
    home: Path
    binary: Path

    @property
    def ws(self) -> Workspace:
        return Workspace(self.home, CLUSTER)

    def pids(self) -> dict[str, int | None]:
        return {
            h.name: proc.running_pid(proc.NodeDir(self.ws.path / "local" / h.name))
            for h in hosts_of(self.ws.load_state())
        }

    def nodes(self) -> dict[str, dict]:
        return {n["Name"]: n for n in Api(workspace_target(self.ws)).nodes()}

    def healthy(self) -> dict[str, dict]:
        """Every client node ready and eligible, every server a healthy voter."""

        def ok() -> dict[str, dict] | None:
            try:
                nodes = self.nodes()
                health = operations.autopilot_health(Api(workspace_target(self.ws)))
            except NomadctlError:  # a re-election: look again
                return None
            good = all(
                n["Status"] == "ready" and n["SchedulingEligibility"] == "eligible"
                for n in nodes.values()
            )
            return nodes if good and health.healthy and len(nodes) == 3 else None

        return wait_for(ok, timeout=60, what="every node ready and eligible, servers healthy")


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    home, binary = tmp_path / "home", make_binary(tmp_path / "bin" / "nomad")
    try:
        code, _out, err = run(home, "up", "--local", "--nomad-binary", str(binary))
        assert code == 0, err
        yield Local(home, binary)
    finally:
        run(home, "down", "--yes")
        for pid in agent_pids(binary):
            os.kill(pid, signal.SIGKILL)


def test_a_changed_config_restarts_servers_one_at_a_time(local: Local) -> None:
    before = local.pids()
    code, out, err = run(local.home, "up", "--datacenter", "dc2", "--yes", "--json")
    assert code == 0, err
    lines = err.splitlines()
    restarts = [i for i, line in enumerate(lines) if "restarting (server" in line]
    healthy = [i for i, line in enumerate(lines) if "restarted, servers healthy" in line]
    assert len(restarts) == 3 == len(healthy), err
    for n in range(3):  # each server back and checked before the next one goes
        assert restarts[n] < healthy[n] and (n == 2 or healthy[n] < restarts[n + 1]), err
    assert "the leader)" in lines[restarts[2]], err  # the leader last, known by its ID
    after = local.pids()
    assert all(after[n] != before[n] for n in after), (before, after)
    assert any("draining" in line for line in lines), err  # clients drained, not just killed
    hosts = {h["name"]: h for h in json.loads(out)["hosts"]}
    assert all(h["restarted"] for h in hosts.values()), hosts
    local.healthy()


def test_nomadctl_killed_after_a_client_restart_is_finished_by_the_rerun(local: Local) -> None:
    p = nomadctl(local.home, "up", "--datacenter", "dc2", "--yes")
    assert p.stderr is not None
    seen = []
    for line in p.stderr:
        seen.append(line)
        if "-client-1: agent restarted" in line:  # restarted, not yet eligible again
            p.send_signal(signal.SIGKILL)
            break
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL, "".join(seen)
    code, _out, err = run(local.home, "up", "--yes")
    assert code == 0, err
    assert "eligible again" in err, err
    local.healthy()


def test_a_server_killed_mid_roll_stops_the_roll_before_the_next_server(local: Local) -> None:
    """In-process, so that the kill happens at a known moment: when the first server is back,
    the leader's agent is killed by PID; the quorum check before the second server sees a
    failure tolerance of 0 (or the dead leader not answering) and stops there."""
    ws = local.ws
    state = ws.load_state()
    hosts = hosts_of(state)
    servers = [h for h in hosts if h.role == "server"]
    before = local.pids()
    killed: list[str] = []

    def say(line: str) -> None:
        if "restarted, servers healthy" in line and not killed:
            api = Api(workspace_target(ws))
            health = operations.autopilot_health(api)  # the leader by its server ID
            named = [str(s["Name"]) for s in health.servers if s["ID"] == health.leader]
            leader = named[0].rsplit(".", 1)[0] if named else ""
            assert leader and not line.startswith(leader + ":"), line  # the leader goes last
            pid = before[leader]
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # by PID, as an operator's mistake or the OOM killer
            killed.append(leader)

    facts = render.ClusterFacts(
        gossip_key=store.read_gossip_key(ws), datacenter="dc3", servers=servers
    )
    opts = fleet.NodeOptions(facts, rollout=replace(RolloutOptions(), health_timeout=6.0))
    agents = LocalProvider(LocalOptions(nomad_binary=local.binary)).agents(ws)
    results = {r.host.name: r for r in agents.configure(ws, hosts, opts, say)}
    assert killed, "no server came back: the roll never reached the check"
    failed = [n for n, r in results.items() if n in before and r.status == "failed"]
    stopped = [n for n in failed if "rolling restart stopped here" in (results[n].error or "")]
    assert len(stopped) == 1, {n: r.error for n, r in results.items()}
    error = results[stopped[0]].error or ""
    assert "quorum check before" in error, error
    assert "failure tolerance is 0" in error or "not answering" in error, error
    after = local.pids()
    assert after[stopped[0]] == before[stopped[0]], "the next server was touched"
    assert all(after[c] == before[c] for c in before if "client" in c), "clients were touched"


def _kill_on(p: subprocess.Popen[str], marker: str) -> str:
    """Read the run's progress until `marker`, then SIGKILL it (as a crash or `kill -9` would);
    what it said up to there."""
    assert p.stderr is not None
    seen = []
    for line in p.stderr:
        seen.append(line)
        if marker in line:
            p.send_signal(signal.SIGKILL)
            break
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def test_nomadctl_killed_mid_scale_in_and_a_rerun_that_keeps_the_node(local: Local) -> None:
    """Killed once a client is drained for a scale-in (ineligible, its agent still running),
    then told to keep three clients after all: the node must not stay ineligible for good."""
    _kill_on(nomadctl(local.home, "up", "--clients", "2", "--yes"), "-client-3: drained")
    drained = local.nodes()[f"{CLUSTER}-client-3"]
    assert drained["SchedulingEligibility"] == "ineligible", drained  # the fault is there
    code, _out, err = run(local.home, "up", "--clients", "3", "--yes")
    assert code == 0, err
    local.healthy()


def test_a_ca_rotation_is_finished_only_when_every_server_shows_the_new_ca(local: Local) -> None:
    """The state a run killed in pass 2 leaves, just after it issued the new leaves into the
    workspace and before any node took them: the workspace says "all new", the servers still
    show their old-CA certificates. `--finish` reads the cluster and refuses; the re-run of
    `up` converges, and then the rotation finishes."""
    code, _out, err = run(local.home, "certs", "--rotate-ca")
    assert code == 0, err
    ws = local.ws
    hosts = hosts_of(ws.load_state())
    facts = render.ClusterFacts(
        gossip_key=store.read_gossip_key(ws),
        servers=[h for h in hosts if h.role == "server"],
    )
    agents = LocalProvider(LocalOptions(nomad_binary=local.binary)).agents(ws)
    first = agents.configure(ws, hosts, fleet.NodeOptions(facts), lambda _m: None)  # pass 1
    assert [r.status for r in first if r.status == "failed"] == [], first
    ca = store.load_ca(ws)
    for h in hosts:  # pass 2's first step, then the kill
        store.ensure_node_cert(
            ws, ca, name=h.name, kind=h.role, region="global", addresses=[h.private_ip]
        )
    assert store.previous_leaves(ws, [h.name for h in hosts]) == []  # the workspace: done
    code, _out, err = run(local.home, "certs", "--rotate-ca", "--finish")
    assert code == 4, err
    assert "not show a certificate of the new CA" in err and "-server-1" in err, err
    code, _out, err = run(local.home, "up", "--yes")
    assert code == 0, err
    code, _out, err = run(local.home, "certs", "--rotate-ca", "--finish")
    assert code == 0, err
    code, _out, err = run(local.home, "up", "--yes")
    assert code == 0, err
    local.healthy()


def test_local_clients_do_not_reap_each_others_containers(tmp_path: Path) -> None:
    """Local clients share one Docker daemon: each docker driver would remove running Nomad
    containers it does not track (drivers/docker/reconcile_dangling.go), i.e. the other
    clients' tasks. Their config turns that off (a config the stand-in's plugin schema,
    read from Nomad's drivers/docker/config.go, accepts); a node's own daemon keeps it on."""
    from nomadctl.hosts import Host
    from tests.standin.agent.config import build_config, load_config_files
    from tests.standin.agent.strict import plugin_errors

    server = Host("c-server-1", "server", "127.0.0.2")
    client = Host("c-client-1", "client", "127.0.0.3")
    facts = render.ClusterFacts(gossip_key="k" * 24, servers=[server])
    layout = render.LocalLayout(data_dir="/w/data", tls_dir="/w/tls")

    def docker(hcl: str) -> dict:
        path = tmp_path / "agent.hcl"
        path.write_text(hcl)
        cfg = build_config(*load_config_files([str(path)]), {})
        assert plugin_errors(cfg.plugins) is None
        return cfg.plugins["docker"]["config"]

    local = docker(render.agent_config(facts, client, layout))
    assert local["gc"]["dangling_containers"]["enabled"] is False, local
    assert "gc" not in docker(render.agent_config(facts, client))


def test_in_port_mode_the_leader_is_known_by_its_id_and_restarts_last(tmp_path: Path) -> None:
    """All agents on 127.0.0.1, each with its own ports: the leader's address names no one
    agent, its server ID does (autopilot), so the leader still restarts last."""
    from tests.providers.local.test_local import up

    binary = make_binary(tmp_path / "bin" / "nomad")
    ws = Workspace(tmp_path / "home", "ports")
    provider = LocalProvider(LocalOptions(clients=1, nomad_binary=binary, loopback=False))
    try:
        hosts, _ = up(ws, provider)
        servers = [h for h in hosts if h.role == "server"]
        assert {h.private_ip for h in servers} == {"127.0.0.1"}
        health = operations.autopilot_health(Api(workspace_target(ws)))
        leader = next(s["Name"] for s in health.servers if s["ID"] == health.leader)
        lines: list[str] = []
        _, done = configure(ws, provider, datacenter="dc2", say=lines.append)
        assert all(r.status != "failed" for r in done.results), lines
        restarts = [line for line in lines if "restarting (server" in line]
        assert len(restarts) == 3, lines
        assert restarts[-1].startswith(leader.rsplit(".", 1)[0] + ":"), (leader, restarts)
        assert restarts[-1].endswith("the leader)"), restarts
    finally:
        provider.destroy(ws, lambda _m: None)
