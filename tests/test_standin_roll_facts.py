"""The stand-in is as strict as Nomad where the roll's checks lean on it (issue 29 point 9):
a graceful leave that cannot finish in 5s exits 1; a TLS reload whose CA cannot be read ends
the agent (1.10.1 on) and the HTTP server is started anew on a good reload; autopilot keeps
a dead server's last stats (healthy while serf still calls it alive) and writes LastContact
as Go's Duration.String().

Real agent processes on loopback, real TLS with client certificates, ACLs enabled.
"""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standin import make_binary
from tests.standin.day2_cluster import served_serial, start_cluster
from tests.standin.harness import LocalAgents, Pki, Spec, next_ip, wait_for

GO_DURATION = re.compile(r"^(0s|\d+(\.\d+)?(ns|µs|ms|s)|\d+m\d+(\.\d+)?s|\d+h\d+m\d+(\.\d+)?s)$")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:  # each test its own: some damage their CA file
    return Pki(tmp_path / "pki")


def _agents(version: str, pki: Pki, tmp: Path) -> Iterator[LocalAgents]:
    la = LocalAgents(make_binary(tmp / "bin" / "nomad", version=version), tmp, pki)
    try:
        yield la
    finally:
        la.close()


@pytest.fixture
def agents(pki: Pki, tmp_path: Path) -> Iterator[LocalAgents]:
    yield from _agents("1.11.1", pki, tmp_path)


@pytest.fixture
def agents_1_10_0(pki: Pki, tmp_path: Path) -> Iterator[LocalAgents]:
    yield from _agents("1.10.0", pki, tmp_path)


def test_go_duration_strings() -> None:
    """time.Duration.String(), as api/operator.go ServerHealth.MarshalJSON uses it."""
    from tests.standin.agent.day2 import go_duration

    cases = {0: "0s", 999: "999ns", 1_500: "1.5µs", 12_500_000: "12.5ms", 1_500_000_000: "1.5s"}
    cases |= {120_000_000_000: "2m0s", 3_723_000_000_000: "1h2m3s", -2_000_000: "-2ms"}
    assert {ns: go_duration(ns) for ns in cases} == cases


def test_a_leave_that_cannot_finish_in_5s_exits_1(agents: LocalAgents, pki: Pki) -> None:
    """command/agent/command.go terminateGracefully: gracefulTimeout is 5s, then exit 1. A
    follower whose leader and peer are gone waits in vain to be removed from raft."""
    c = start_cluster(agents, pki, servers=3, leave_on_terminate=True)
    leader = c.leader()
    follower, other = (s for s in c.servers if s is not leader)
    for s in (leader, other):
        s.proc.kill()
        s.proc.wait(5)
    assert agents.stop(follower, signal.SIGTERM, timeout=30) == 1
    log = follower.log()
    assert "Gracefully shutting down agent..." in log
    assert "nomad: left raft configuration" not in log


def test_a_reload_with_an_unreadable_ca_ends_the_agent(agents: LocalAgents, pki: Pki) -> None:
    c = start_cluster(agents, pki, servers=1)
    srv = c.servers[0]
    assert srv.spec.tls is not None and srv.spec.ca_file is not None
    Path(srv.spec.ca_file).write_bytes(b"not a certificate\n")
    srv.proc.send_signal(signal.SIGHUP)
    assert srv.proc.wait(15) == 1
    assert "==> Fatal error while reloading: reloading server config failed" in srv.log()


def test_before_1_10_1_a_failed_reload_is_only_logged(
    agents_1_10_0: LocalAgents, pki: Pki, tmp_path: Path
) -> None:
    c = start_cluster(agents_1_10_0, pki, servers=1)
    srv = c.servers[0]
    assert srv.spec.ca_file is not None
    Path(srv.spec.ca_file).write_bytes(b"not a certificate\n")
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloading server config failed" in srv.log(), 10, what="logged")
    assert srv.alive() and "Fatal error" not in srv.log()


def test_a_tls_reload_opens_a_new_listener_and_serves_kept_connections_on(
    agents: LocalAgents, pki: Pki
) -> None:
    """command/agent/command.go reloadHTTPServer calls HTTPServer.Shutdown, which in
    command/agent/http.go (v1.10.5 to v1.11.3) only closes the listener and waits for Serve
    to return: a new connection is shown the new certificate, and a connection accepted
    before the reload is still answered, with its old TLS session."""
    c = start_cluster(agents, pki, servers=1)
    srv = c.servers[0]
    assert srv.spec.tls is not None
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.load_cert_chain(str(pki.cli.cert), str(pki.cli.key))
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection(srv.spec.ip, 4646, context=ctx, timeout=5)
    conn.request("GET", "/v1/status/leader")
    assert conn.getresponse().read()
    before = served_serial(srv, pki)
    fresh = pki.node("server", srv.spec.ip)
    shutil.copyfile(fresh.cert, srv.spec.tls.cert)
    shutil.copyfile(fresh.key, srv.spec.tls.key)
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: served_serial(srv, pki) != before, 10, what="the new HTTP listener")
    sock = conn.sock
    conn.request("GET", "/v1/status/leader")  # on the connection made before the reload
    assert conn.getresponse().status == 200 and conn.sock is sock
    conn.close()


def test_autopilot_keeps_a_dead_servers_last_stats_until_serf_fails_it(
    agents: LocalAgents, pki: Pki
) -> None:
    """raft-autopilot v0.1.6 state.go: a server whose stats cannot be fetched keeps its last
    ones, so it stays Healthy for as long as serf calls it alive; LastContact is a Go
    duration string. Every report until serf calls it failed must say so."""
    c = start_cluster(agents, pki, servers=3)
    leader = c.leader()
    victim = next(s for s in c.servers if s is not leader)
    name = f"{victim.spec.name}.global"
    victim.proc.kill()
    victim.proc.wait(5)
    seen: list[tuple[str, bool, str]] = []

    def failed() -> bool:
        body = leader.api("/v1/operator/autopilot/health", token=c.token).json()
        mine = next(s for s in body["Servers"] if s["Name"] == name)
        seen.append((mine["SerfStatus"], mine["Healthy"], mine["LastContact"]))
        assert all(GO_DURATION.match(s["LastContact"]) for s in body["Servers"]), body
        return mine["SerfStatus"] == "failed"

    wait_for(failed, 30, what="serf calls the dead server failed")
    assert all(healthy for serf, healthy, _ in seen if serf == "alive"), seen
    assert not seen[-1][1], seen
    # memberlist state.go suspectNode with 3 servers: k = 0, no confirmations counted
    log = leader.log()
    assert f"memberlist: Marking {name} as failed, suspect timeout reached (0 peer " in log, log
    assert f"serf: EventMemberFailed: {name} {victim.spec.ip}" in log


def test_a_client_returns_an_rpc_error_that_is_not_safe_to_retry(
    agents: LocalAgents, pki: Pki
) -> None:
    """client/rpc.go rpc and canRetry (v1.10.5): a call the client agent sends to its current
    server is made again elsewhere only after "No cluster leader", or for a read whose
    connection ended (EOF). A server that does not answer (here: stopped) is a 500 "rpc
    error" at once; it is moved to the back (NotifyFailedServer), so the next call works."""
    c = start_cluster(agents, pki, servers=3)
    leader = c.leader()
    first = next(s for s in c.servers if s is not leader)  # the client's first server
    order = [first, *(s for s in c.servers if s is not first)]
    ip = next_ip()
    client = agents.start(
        Spec(name="client-1", ip=ip, server=False, client=True, tls=pki.node("client", ip),
             servers=[s.spec.ip for s in order], ca_file=pki.ca.cert)
    )  # fmt: skip
    wait_for(
        lambda: client.api("/v1/nodes", token=c.token).status_code == 200, 20, what="registered"
    )
    first.proc.send_signal(signal.SIGSTOP)
    try:
        failed = client.api("/v1/nodes", token=c.token, timeout=15)
        assert failed.status_code == 500 and failed.text.startswith("rpc error: "), failed.text
        assert client.api("/v1/nodes", token=c.token, timeout=15).status_code == 200
    finally:
        first.proc.send_signal(signal.SIGCONT)
