"""`cluster.quorum` against stand-in servers (real processes, TLS, ACLs): autopilot's report
alone is stale for a server that just died (it keeps the last stats it fetched, and serf
calls the server alive for a while), so the check also asks every other server on its own
address; a restarted server counts once it is a healthy voter, stable long enough."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nomadctl.cluster import operations, quorum
from nomadctl.cluster.api import Api, ApiTarget
from tests.standin import make_binary
from tests.standin.day2_cluster import Cluster, start_cluster
from tests.standin.harness import LocalAgents, Pki


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[LocalAgents]:
    pki = Pki(tmp_path / "pki")
    la = LocalAgents(make_binary(tmp_path / "bin" / "nomad"), tmp_path, pki)
    try:
        yield la
    finally:
        la.close()


def _api(c: Cluster, pki: Pki) -> tuple[Api, list[quorum.Server]]:
    api = Api(
        ApiTarget(
            addresses=[f"https://{s.spec.ip}:4646" for s in c.servers],
            ca_file=str(pki.ca.cert),
            client_cert=(str(pki.cli.cert), str(pki.cli.key)),
            server_name="server.global.nomad",
            token=c.token,
            timeout=2.0,
        )
    )
    return api, [quorum.Server(s.spec.name, f"https://{s.spec.ip}:4646") for s in c.servers]


def test_a_dead_server_is_seen_before_autopilot_notices(agents: LocalAgents) -> None:
    pki = agents.pki
    assert pki is not None
    c = start_cluster(agents, pki, servers=3)
    api, servers = _api(c, pki)
    safe = quorum.wait_safe(api, servers, 20, stable_for=1.0)
    leader = c.leader()
    assert safe.leader_name == leader.spec.name  # by autopilot's server ID
    victim = next(s for s in c.servers if s is not leader)
    victim.proc.kill()
    victim.proc.wait(5)
    health = operations.autopilot_health(api)
    looked, why = quorum.check(api, servers, going=leader.spec.name)
    assert looked is None, why
    if health.healthy:  # autopilot still counts it (stale stats): the address check does not
        assert why == f"{victim.spec.name} not answering on its own address", (why, health)
    else:
        assert "failure tolerance is 0" in why, why


def test_a_restarted_server_counts_once_stable(agents: LocalAgents) -> None:
    pki = agents.pki
    assert pki is not None
    c = start_cluster(agents, pki, servers=3)
    api, servers = _api(c, pki)
    quorum.wait_safe(api, servers, 20)
    leader = c.leader()
    follower = next(s for s in c.servers if s is not leader)
    name = follower.spec.name
    _, why = quorum.check(api, servers, back=name, stable_for=3600)
    assert why == f"{name} is a voter, not yet stable for 3600s", why
    safe = quorum.wait_safe(api, servers, 20, back=name, stable_for=1.0)
    assert safe.health is not None and safe.health.failure_tolerance == 1


def test_two_voters_become_one_only_when_both_answer(agents: LocalAgents) -> None:
    """The last leave of a scale-in to one server: safe only while both servers answer (a
    leave that fails there leaves one live voter of two). The leaver that does not answer is
    refused even while autopilot still counts it healthy (its stats are stale)."""
    pki = agents.pki
    assert pki is not None
    c = start_cluster(agents, pki, servers=2)
    api, servers = _api(c, pki)
    leader = c.leader()
    leaver = next(s for s in c.servers if s is not leader)
    # both answer and agree: the graceful leave may go (failure tolerance 0 notwithstanding)
    quorum.wait_safe(api, servers, 20, going=leaver.spec.name, leave=True)
    leaver.proc.kill()
    leaver.proc.wait(5)
    looked, why = quorum.check(api, servers, going=leaver.spec.name, leave=True)
    assert looked is None, "a leave from two voters to one went ahead with the leaver silent"
    assert leaver.spec.name in why or "unhealthy" in why, why
