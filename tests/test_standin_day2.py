"""The stand-in's day-2 behaviour follows Nomad: drain, eligibility, autopilot health, raft
peer removal, force-leave, graceful leave and SIGHUP TLS reload (tests/standin/agent/day2.py).

Real agent processes on loopback, real TLS with client certificates, ACLs enabled.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nomadctl.cluster import operations as op
from nomadctl.cluster.api import Api, ApiTarget
from tests.standin import make_binary
from tests.standin.day2_cluster import Cluster, served_serial, start_cluster
from tests.standin.harness import LocalAgents, Pki, wait_for

NODE_READ = 'node {\n  policy = "read"\n}\nnamespace "*" {\n  policy = "read"\n}\n'
OPERATOR_READ = 'operator {\n  policy = "read"\n}\n'
NO_CLEANUP = "autopilot {\n  cleanup_dead_servers = false\n}"


@pytest.fixture(scope="module")
def standin_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_binary(tmp_path_factory.mktemp("standin-bin") / "nomad")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("standin-pki"))


@pytest.fixture
def agents(standin_binary: Path, pki: Pki, tmp_path: Path) -> Iterator[LocalAgents]:
    la = LocalAgents(standin_binary, tmp_path, pki)
    try:
        yield la
    finally:
        la.close()


def _allocs(c: Cluster, node_id: str) -> list[dict[str, Any]]:
    r = c.api(f"/v1/node/{node_id}/allocations")
    assert r.status_code == 200, r.text
    return list(r.json())


def _running(c: Cluster, node_id: str) -> list[dict[str, Any]]:
    return [a for a in _allocs(c, node_id) if a["DesiredStatus"] == "run"]


def _drain(c: Cluster, node_id: str, deadline_s: float, **kw: Any) -> Any:
    body = {"DrainSpec": {"Deadline": int(deadline_s * 1e9), "IgnoreSystemJobs": False}, **kw}
    return c.api(f"/v1/node/{node_id}/drain", "POST", json=body)


def test_drain_migrates_allocations_then_a_deadline_stops_the_rest(
    agents: LocalAgents, pki: Pki
) -> None:
    c = start_cluster(agents, pki, servers=1, clients=2)
    nodes = c.nodes()
    n1, n2 = nodes["client-1"]["ID"], nodes["client-2"]["ID"]
    assert nodes["client-1"]["DrainStrategy"] is None and nodes["client-1"]["LastDrain"] is None

    # node:read is not enough to drain or to change eligibility.
    ro = c.token_for("noderead", NODE_READ)
    r = c.api(f"/v1/node/{n1}/drain", "POST", ro, json={})
    assert (r.status_code, r.text) == (403, "Permission denied")
    r = c.api(f"/v1/node/{n1}/eligibility", "POST", ro, json={"Eligibility": "ineligible"})
    assert (r.status_code, r.text) == (403, "Permission denied")
    assert c.api(f"/v1/node/{n1}/drain", "GET").status_code == 405
    r = _drain(c, "0b6f2e1c-0000-4000-8000-000000000000", 1)
    assert (r.status_code, r.text) == (500, "node not found")

    job = {
        "ID": "web",
        "Name": "web",
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [
            {"Name": "app", "Count": 2, "Migrate": {"MaxParallel": 1, "MinHealthyTime": 10**9}}
        ],
    }
    assert c.api("/v1/jobs", "POST", json={"Job": job}).status_code == 200

    def spread() -> bool:
        a1, a2 = _running(c, n1), _running(c, n2)
        healthy = all((a["DeploymentStatus"] or {}).get("Healthy") for a in a1 + a2)
        return len(a1) == 1 and len(a2) == 1 and healthy

    wait_for(spread, 15, what="one healthy alloc per node", on_fail=agents.logs)

    r = _drain(c, n1, 30, Meta={"reason": "day2"})
    assert r.status_code == 200, r.text
    reply = r.json()
    assert set(reply) >= {"NodeModifyIndex", "EvalIDs", "EvalCreateIndex", "Index"}
    node = c.api(f"/v1/node/{n1}").json()
    assert node["SchedulingEligibility"] == "ineligible"
    assert node["ModifyIndex"] == reply["NodeModifyIndex"]
    ds = node["DrainStrategy"]
    assert ds is not None and ds["Deadline"] == 30 * 10**9 and ds["IgnoreSystemJobs"] is False
    assert ds["ForceDeadline"] > ds["StartedAt"]
    assert node["LastDrain"]["Status"] == "draining"
    assert node["LastDrain"]["Meta"] == {"reason": "day2"}
    stub = next(n for n in c.api("/v1/nodes").json() if n["ID"] == n1)  # NodeListStub
    assert stub["Drain"] is True and stub["LastDrain"]["Status"] == "draining"
    r = c.api(f"/v1/node/{n1}/eligibility", "POST", json={"Eligibility": "eligible"})
    assert r.status_code == 500
    assert r.text == "can not set node's scheduling eligibility to eligible while it is draining"

    wait_for(
        lambda: c.api(f"/v1/node/{n1}").json()["DrainStrategy"] is None,
        20,
        what="drain of client-1 done",
        on_fail=agents.logs,
    )
    node = c.api(f"/v1/node/{n1}").json()
    assert node["SchedulingEligibility"] == "ineligible"  # no MarkEligible
    assert node["LastDrain"]["Status"] == "complete"
    assert node["LastDrain"]["Meta"] == {"reason": "day2"}
    assert _running(c, n1) == []
    old = _allocs(c, n1)
    assert [a["DesiredTransition"]["Migrate"] for a in old] == [True]
    assert old[0]["ClientStatus"] == "complete"
    assert old[0]["DesiredDescription"] == "alloc is being migrated"  # not the 30s deadline
    wait_for(lambda: len(_running(c, n2)) == 2, 10, what="replacement on client-2")

    # Eligibility: a no-op answers index 0; heartbeats do not reset what the servers own.
    r = c.api(f"/v1/node/{n1}/eligibility", "POST", json={"Eligibility": "maybe"})
    assert (r.status_code, r.text) == (500, 'invalid scheduling eligibility "maybe"')
    r = c.api(f"/v1/node/{n1}/eligibility", "POST", json={"Eligibility": "ineligible"})
    assert r.status_code == 200 and r.json()["Index"] == 0
    time.sleep(1.5)  # more than one client heartbeat (NODE_TTL / 4)
    assert c.api(f"/v1/node/{n1}").json()["SchedulingEligibility"] == "ineligible"

    # Nowhere to migrate to: one alloc goes, the other waits for its replacement to be
    # healthy, which cannot be placed; the drain ends at its deadline.
    t0 = time.monotonic()
    assert _drain(c, n2, 2.5).status_code == 200
    wait_for(
        lambda: c.api(f"/v1/node/{n2}").json()["DrainStrategy"] is None,
        20,
        what="drain of client-2 ended",
        on_fail=agents.logs,
    )
    took = time.monotonic() - t0
    assert took >= 2.5, took  # not before the deadline
    stopped = [a for a in _allocs(c, n2) if a["DesiredStatus"] == "stop"]
    reasons = sorted(a["DesiredDescription"] for a in stopped)
    assert "alloc is being drained: node deadline reached" in reasons
    assert "alloc is being migrated" in reasons
    assert c.api(f"/v1/node/{n2}").json()["LastDrain"]["Status"] == "complete"

    # Back to service: eligible again, the job is placed again.
    r = c.api(f"/v1/node/{n1}/eligibility", "POST", json={"Eligibility": "eligible"})
    assert r.status_code == 200 and r.json()["Index"] > 0
    wait_for(lambda: len(_running(c, n1)) == 2, 10, what="job back on client-1")

    # Deadlines within 5s of each other are handled together, at the later one.
    assert c.api("/v1/job/web?purge=true", "DELETE").status_code == 200
    r = c.api(f"/v1/node/{n2}/eligibility", "POST", json={"Eligibility": "eligible"})
    assert r.status_code == 200
    batch = {**job, "ID": "b", "Name": "b", "Type": "batch"}
    assert c.api("/v1/jobs", "POST", json={"Job": batch}).status_code == 200
    wait_for(lambda: len(_running(c, n1)) == len(_running(c, n2)) == 1, 10, what="batch spread")
    t0 = time.monotonic()
    assert _drain(c, n1, 1.0).status_code == 200
    assert _drain(c, n2, 3.0).status_code == 200
    wait_for(lambda: c.api(f"/v1/node/{n1}").json()["DrainStrategy"] is None, 15, what="n1")
    assert time.monotonic() - t0 >= 3.0  # not at its own 1s deadline


def _health(c: Cluster, token: str | None = "") -> tuple[int, dict[str, Any]]:
    r = c.leader().api("/v1/operator/autopilot/health", token=c.token if token == "" else token)
    return r.status_code, r.json() if r.headers["Content-Type"] == "application/json" else {}


def test_autopilot_health_raft_peer_removal_and_force_leave(agents: LocalAgents, pki: Pki) -> None:
    c = start_cluster(agents, pki, servers=3, extra=NO_CLEANUP)  # removals by hand here

    def healthy() -> dict[str, Any] | None:
        code, body = _health(c)
        return body if code == 200 else None

    h = wait_for(healthy, 15, what="healthy cluster", on_fail=agents.logs)
    assert h["Healthy"] is True and h["FailureTolerance"] == 1
    assert len(h["Servers"]) == 3 and sorted(h["Voters"]) == sorted(s["ID"] for s in h["Servers"])
    leader = c.leader()
    for s in h["Servers"]:
        assert set(s) == {
            "ID",
            "Name",
            "Address",
            "SerfStatus",
            "Version",
            "Leader",
            "LastContact",
            "LastTerm",
            "LastIndex",
            "Healthy",
            "Voter",
            "StableSince",
        }
        assert s["SerfStatus"] == "alive" and s["Voter"] is True and s["Version"] == "1.11.0"
        assert s["Leader"] is (s["Address"] == f"{leader.spec.ip}:4647")
        assert s["Name"].endswith(".global") and s["StableSince"].endswith("Z")
    assert h["Leader"] == next(s["ID"] for s in h["Servers"] if s["Leader"])

    # ACL: operator:read is needed; management for raft peer removal.
    assert _health(c, token=None)[0] == 403
    op = c.token_for("opread", OPERATOR_READ)
    assert _health(c, token=op)[0] == 200
    r = leader.api("/v1/operator/autopilot/health", "POST", token=c.token)
    assert (r.status_code, r.text) == (404, "Invalid method")

    # A follower killed: unhealthy (429), failure tolerance 0; healthy again after restart.
    victim = next(s for s in c.servers if s is not leader)
    victim_name = f"{victim.spec.name}.global"
    victim.proc.kill()
    victim.proc.wait(5)

    def unhealthy() -> dict[str, Any] | None:
        code, body = _health(c)
        return body if code == 429 else None

    h = wait_for(unhealthy, 10, what="unhealthy after kill", on_fail=agents.logs)
    bad = [s for s in h["Servers"] if not s["Healthy"]]
    assert [s["Name"] for s in bad] == [victim_name]
    assert h["Healthy"] is False and h["FailureTolerance"] == 0
    victim_id = bad[0]["ID"]
    restarted = agents.start(victim.spec)
    c.servers[c.servers.index(victim)] = restarted
    wait_for(lambda: _health(c)[0] == 200, 20, what="healthy after restart", on_fail=agents.logs)

    # Raft peer removal of a dead server.
    restarted.proc.kill()
    restarted.proc.wait(5)
    wait_for(
        lambda: (
            {m["Name"]: m["Status"] for m in c.api("/v1/agent/members").json()["Members"]}[
                victim_name
            ]
            == "failed"
        ),
        10,
        what="victim failed in serf",
    )
    peer = "/v1/operator/raft/peer"
    assert c.api(f"{peer}?id={victim_id}", "DELETE", token=op).status_code == 403
    r = c.api(f"{peer}?address=1.2.3.4:4647", "DELETE")
    assert r.status_code == 400 and "by address is not supported" in r.text
    r = c.api(peer, "DELETE")
    assert (r.status_code, r.text) == (400, "Must specify the peer's ID to remove")
    r = c.api(f"{peer}?id=nope", "DELETE")
    assert (r.status_code, r.text) == (500, 'id "nope" was not found in the Raft configuration')
    assert c.api(f"{peer}?id={victim_id}", "GET").status_code == 404
    assert len(c.raft_ids()) == 3
    r = c.api(f"{peer}?id={victim_id}", "DELETE")
    assert r.status_code == 200, r.text
    assert victim_name not in c.raft_ids() and len(c.raft_ids()) == 2
    code, h = _health(c)
    assert code == 200 and len(h["Servers"]) == 2 and h["FailureTolerance"] == 0

    # force-leave: agent:write; a failed member is pruned from every server's member list.
    fl = "/v1/agent/force-leave"
    assert c.api(f"{fl}?node={victim_name}", "PUT", token=op).status_code == 403
    r = c.api(fl, "PUT")
    assert (r.status_code, r.text) == (400, "missing node to force leave")
    r = c.api(f"{fl}?node={victim_name}&prune=yes", "PUT")
    assert (r.status_code, r.text) == (400, "invalid prune value")
    alive = c.alive()
    r = c.api(f"{fl}?node={alive[1].spec.name}.global", "PUT")  # alive: refuted, stays
    assert r.status_code == 200
    r = c.api(f"{fl}?node={victim_name}&prune=true", "PUT")
    assert r.status_code == 200, r.text
    for s in alive:
        members = {
            m["Name"]: m["Status"]
            for m in s.api("/v1/agent/members", token=c.token).json()["Members"]
        }
        assert victim_name not in members and set(members.values()) == {"alive"}, members


def test_graceful_leave_shrinks_raft_before_the_agent_exits(agents: LocalAgents, pki: Pki) -> None:
    c = start_cluster(agents, pki, servers=3, leave_on_terminate=True)
    leader = c.leader()
    follower = next(s for s in c.servers if s is not leader)
    assert agents.stop(follower, signal.SIGTERM) == 0
    # Nomad's Server.Leave waits to be removed from raft before it shuts down.
    names = c.raft_ids()
    assert names == sorted(f"{s.spec.name}.global" for s in c.servers if s is not follower)
    assert "nomad: left raft configuration" in follower.log()
    members = {m["Name"]: m["Status"] for m in c.api("/v1/agent/members").json()["Members"]}
    assert members[f"{follower.spec.name}.global"] == "left"

    # The leader removes itself first; the last server then leads a cluster of one.
    assert agents.stop(leader, signal.SIGTERM) == 0
    last = c.alive()
    assert len(last) == 1
    wait_for(lambda: last[0].leader() == f"{last[0].spec.ip}:4647", 15, what="last one leads")
    assert c.raft_ids() == [f"{last[0].spec.name}.global"]


def test_sighup_reloads_tls_certificates_keeping_the_pid(agents: LocalAgents, pki: Pki) -> None:
    c = start_cluster(agents, pki, servers=1, clients=1)
    srv = c.servers[0]
    pid, before = srv.proc.pid, served_serial(srv, pki)
    assert srv.spec.tls is not None
    # Same files, SIGHUP: nothing to reload.
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "Reloading configuration..." in srv.log(), 5, what="reload line")
    assert served_serial(srv, pki) == before
    assert "reloading HTTP server" not in srv.log()

    # A broken key: the reload fails, the old certificate is kept.
    fresh = pki.node("server", srv.spec.ip)
    key = srv.spec.tls.key.read_bytes()
    srv.spec.tls.key.write_bytes(b"not a key\n")
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "failed to reload the config" in srv.log(), 5, what="failed reload")
    assert served_serial(srv, pki) == before
    srv.spec.tls.key.write_bytes(key)

    # A re-issued certificate at the same paths: new connections see it, same process.
    shutil.copyfile(fresh.cert, srv.spec.tls.cert)
    shutil.copyfile(fresh.key, srv.spec.tls.key)
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: served_serial(srv, pki) != before, 5, what="new serial")
    assert srv.proc.pid == pid and srv.alive()
    assert served_serial(srv, pki, port=4647) != before  # RPC listener too
    log = srv.log()
    assert "==> Caught signal: hangup" in log
    assert "agent: reloading HTTP server with new TLS configuration" in log
    assert "nomad: reloading server connections due to configuration changes" in log
    # A client reloads too, and keeps talking RPC to the server with its new certificate.
    client = c.clients[0]
    assert client.spec.tls is not None
    old_client = served_serial(client, pki, role="client")
    fresh = pki.node("client", client.spec.ip)
    shutil.copyfile(fresh.cert, client.spec.tls.cert)
    shutil.copyfile(fresh.key, client.spec.tls.key)
    client.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: served_serial(client, pki, role="client") != old_client, 5, what="client")
    assert "nomad: reloading server connections" not in client.log()  # a client only
    time.sleep(1.5)  # more than a client heartbeat, over connections made after the reload
    assert [n["Status"] for n in c.api("/v1/nodes").json()] == ["ready"]
    assert "error heartbeating" not in client.log(), client.log()[-2000:]


def test_autopilot_removes_a_dead_server_and_promotes_a_new_one(
    agents: LocalAgents, pki: Pki
) -> None:
    # server_stabilization_time shortened from Nomad's 10s, as an operator may; the 10s
    # dead-server interval is Nomad's and not configurable.
    stab = 'autopilot {\n  server_stabilization_time = "2s"\n}'
    c = start_cluster(agents, pki, servers=3, extra=stab)
    leader = c.leader()
    victim = next(s for s in c.servers if s is not leader)
    name = f"{victim.spec.name}.global"
    victim.proc.kill()
    victim.proc.wait(5)

    def voters() -> dict[str, bool]:
        r = c.leader().api("/v1/operator/raft/configuration", token=c.token)
        return {s["Node"]: s["Voter"] for s in r.json()["Servers"]}

    wait_for(lambda: name not in voters(), 25, what="dead server removed", on_fail=agents.logs)
    members = {m["Name"]: m["Status"] for m in c.api("/v1/agent/members").json()["Members"]}
    assert members[name] == "left"
    code, h = _health(c)
    assert code == 200 and h["FailureTolerance"] == 0 and len(h["Voters"]) == 2

    # Back (same data dir): a non-voter first, a voter once stable for 2s.
    restarted = agents.start(victim.spec)
    c.servers[c.servers.index(victim)] = restarted
    wait_for(lambda: voters().get(name) is False, 15, what="non-voter", on_fail=agents.logs)
    code, h = _health(c)
    me = next(s for s in h["Servers"] if s["Name"] == name)
    assert me["Voter"] is False and me["ID"] not in h["Voters"]
    t0 = time.monotonic()
    # nomadctl's wait counts voters: it returns only once the new server is promoted.
    api = Api(
        ApiTarget(
            addresses=[f"https://{s.spec.ip}:4646" for s in c.servers],
            ca_file=str(pki.ca.cert),
            client_cert=(str(pki.cli.cert), str(pki.cli.key)),
            token=c.token,
        )
    )
    h2 = op.wait_healthy(api, 20, voters=3, settle=0.0)
    assert voters().get(name) is True and len(h2.servers) == 3
    assert time.monotonic() - t0 >= 1.0  # waited for stability, not promoted on sight
    wait_for(lambda: _health(c)[1].get("FailureTolerance") == 1, 10, what="tolerance 1")
