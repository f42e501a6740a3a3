"""cluster.operations against stand-in agents: real processes, real TLS, ACLs on, no mocks."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nomadctl.cluster import operations as op
from nomadctl.cluster import tls_probe
from nomadctl.cluster.api import Api, ApiTarget, PermissionDenied
from nomadctl.errors import ClusterApiError, RemoteError, UsageError
from tests.standin import make_binary
from tests.standin.certs import CertPair
from tests.standin.day2_cluster import Cluster, served_serial, start_cluster
from tests.standin.harness import LocalAgents, Pki, Spec, render_hcl, wait_for
from tests.testbed import Testbed

NODE_READ = 'node {\n  policy = "read"\n}\n'


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


def api_for(c: Cluster, pki: Pki, token: str | None = None) -> Api:
    return Api(
        ApiTarget(
            addresses=[f"https://{s.spec.ip}:4646" for s in c.servers],
            ca_file=str(pki.ca.cert),
            client_cert=(str(pki.cli.cert), str(pki.cli.key)),
            token=token or c.token,
        )
    )


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str


def local_run(command: str) -> Done:
    p = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30)
    return Done(p.returncode, p.stdout, p.stderr)


def _running_on(c: Cluster, node_id: str) -> list[dict[str, Any]]:
    allocs = c.api(f"/v1/node/{node_id}/allocations").json()
    return [a for a in allocs if a["DesiredStatus"] == "run"]


def _job(job_id: str, typ: str, count: int) -> dict[str, Any]:
    group = {"Name": "g", "Count": count, "Migrate": {"MaxParallel": 1, "MinHealthyTime": 10**9}}
    return {"ID": job_id, "Name": job_id, "Type": typ, "TaskGroups": [group]}


def test_drain_waits_for_migration_deadline_and_cancel(agents: LocalAgents, pki: Pki) -> None:
    c = start_cluster(agents, pki, servers=1, clients=2)
    api = api_for(c, pki)
    ids = {n["Name"]: n["ID"] for n in api.nodes()}
    n1, n2 = ids["client-1"], ids["client-2"]
    with pytest.raises(UsageError):
        op.node(api, "client-1")
    with pytest.raises(PermissionDenied):
        op.start_drain(api_for(c, pki, c.token_for("nr", NODE_READ)), n1, 10)
    with pytest.raises(UsageError):
        op.drain(api, n1, 0)  # no deadline and no timeout: could wait forever

    assert c.api("/v1/jobs", "POST", json={"Job": _job("web", "service", 2)}).status_code == 200

    def healthy_on_both() -> bool:
        allocs = [a for n in (n1, n2) for a in c.api(f"/v1/node/{n}/allocations").json()]
        return len(allocs) == 2 and all(
            (a["DeploymentStatus"] or {}).get("Healthy") for a in allocs
        )

    wait_for(healthy_on_both, 15, what="healthy allocs", on_fail=agents.logs)

    lines: list[str] = []
    done = op.drain(api, n1, 30, meta={"by": "test"}, progress=lines.append)
    assert done["DrainStrategy"] is None and done["LastDrain"]["Status"] == "complete"
    assert done["SchedulingEligibility"] == "ineligible"
    assert any("allocation(s) left" in line and "deadline in" in line for line in lines), lines

    # Nowhere to migrate (client-1 ineligible): the drain ends at its deadline, not before.
    assert op.set_eligibility(api, n1, False) == 0  # already ineligible: no change
    t0 = time.monotonic()
    done = op.drain(api, n2, 2.0)
    assert time.monotonic() - t0 >= 2.0
    assert done["LastDrain"]["Status"] == "complete"

    # A drain someone cancels did not empty the node: an error, not a success.
    assert op.set_eligibility(api, n1, True) > 0
    assert c.api("/v1/jobs", "POST", json={"Job": _job("batch", "batch", 1)}).status_code == 200

    def batch_placed() -> bool:  # the node also lists web's stopped allocs: wait for batch's
        allocs = c.api(f"/v1/node/{n1}/allocations").json()
        return any(a["JobID"] == "batch" and a["ClientStatus"] == "running" for a in allocs)

    wait_for(batch_placed, 10, what="batch alloc running on client-1")
    batch_node = n1
    op.start_drain(api, batch_node, 0)  # no deadline: a batch alloc keeps it draining
    with pytest.raises(ClusterApiError, match=r"not done after 1s \(client-1: \d allocation"):
        op.wait_drained(api, batch_node, 1.0)
    op.stop_drain(api, batch_node, mark_eligible=True)
    # At once: after the 30s timeout the message would be "not done after 30s (...)".
    with pytest.raises(op.OperationFailed, match=r"^drain of client-1 ended as canceled$"):
        op.wait_drained(api, batch_node, 30.0)
    assert op.node(api, batch_node)["SchedulingEligibility"] == "eligible"

    # A dead client: once it is down its allocations are lost, so its drain ends then,
    # long before the deadline.
    assert _running_on(c, n1)
    c.clients[0].proc.kill()
    done = op.drain(api, n1, 600, timeout=30)
    assert done["Status"] == "down" and done["LastDrain"]["Status"] == "complete"
    lost = [a for a in c.api(f"/v1/node/{n1}/allocations").json() if a["ClientStatus"] == "lost"]
    assert lost and all(a["DesiredStatus"] == "stop" for a in lost)


def test_health_waits_and_a_dead_server_is_forced_out(agents: LocalAgents, pki: Pki) -> None:
    c = start_cluster(
        agents, pki, servers=3, extra="autopilot {\n  cleanup_dead_servers = false\n}"
    )
    api = api_for(c, pki)
    h = op.wait_healthy(api, 20, voters=3, settle=0.5)
    assert h.healthy and h.failure_tolerance == 1 and len(h.servers) == 3
    with pytest.raises(PermissionDenied):
        op.autopilot_health(api_for(c, pki, c.token_for("nr", NODE_READ)))

    leader = c.leader()
    victim = next(s for s in c.servers if s is not leader)
    name = f"{victim.spec.name}.global"
    victim.proc.kill()
    victim.proc.wait(5)
    wait_for(lambda: not op.autopilot_health(api).healthy, 10, what="unhealthy")
    h = op.autopilot_health(api)
    assert h.unhealthy() == [name] and h.failure_tolerance == 0
    lines: list[str] = []
    with pytest.raises(ClusterApiError, match=f"not done after 1s .*unhealthy: {name}"):
        op.wait_healthy(api, 1.0, progress=lines.append)
    assert lines and name in lines[0]

    restarted = agents.start(victim.spec)
    c.servers[c.servers.index(victim)] = restarted
    h = op.wait_healthy(api, 20, voters=3, settle=0.5)
    assert h.unhealthy() == []

    # Dead for good: force-leave with prune, and it is out of raft too.
    restarted.proc.kill()
    wait_for(lambda: op.members(api).get(name) == "failed", 10, what="failed in serf")
    steps = op.ensure_server_gone(api, name, 15)
    assert steps[0] == "force-leave"
    assert name not in op.members(api)
    assert sorted(s["Node"] for s in op.raft_servers(api)) == sorted(
        f"{s.spec.name}.global" for s in c.servers if s.alive()
    )
    assert op.ensure_server_gone(api, name, 5) == []  # nothing left to do
    with pytest.raises(ClusterApiError, match="not found in the Raft configuration"):
        op.remove_raft_peer(api, "0b6f2e1c-0000-4000-8000-000000000000")
    with pytest.raises(UsageError):
        op.force_leave(api, "bad name; rm -rf /")


def test_reload_by_pid_serves_the_reissued_certificate(
    agents: LocalAgents, pki: Pki, tmp_path: Path
) -> None:
    c = start_cluster(agents, pki, servers=1)
    srv = c.servers[0]
    assert srv.spec.tls is not None
    target = {
        "host": srv.spec.ip,
        "port": 4646,
        "ca_file": str(pki.ca.cert),
        "client_cert": (str(pki.cli.cert), str(pki.cli.key)),
        "server_name": "server.global.nomad",
    }
    before = tls_probe.served_serial(**target)
    assert before == served_serial(srv, pki)
    fresh = pki.node("server", srv.spec.ip)
    from cryptography import x509

    new = x509.load_pem_x509_certificate(fresh.cert.read_bytes()).serial_number
    assert new != before
    shutil.copyfile(fresh.cert, srv.spec.tls.cert)
    shutil.copyfile(fresh.key, srv.spec.tls.key)
    assert op.reload_agent(local_run, pid=srv.proc.pid) == srv.proc.pid
    tls_probe.wait_serving(new, 10, **target)
    assert srv.alive() and tls_probe.served_serial(**{**target, "port": 4647}) == new

    with pytest.raises(UsageError):
        op.reload_agent(local_run)
    with pytest.raises(UsageError):
        op.reload_agent(local_run, pid=1)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(RemoteError, match=f"reloading the agent \\(pid {gone.pid}\\)"):
        op.reload_agent(local_run, pid=gone.pid)
    with pytest.raises(ClusterApiError, match="TLS connection to"):
        tls_probe.served_serial(**{**target, "server_name": "client.global.nomad"})


def test_client_refused_says_whether_the_agent_trusts_a_client_certificate(
    agents: LocalAgents, pki: Pki, tmp_path: Path
) -> None:
    """What tls_confirm's pass-1 check asks: None for a client certificate of the CA the agent
    loaded; for another CA's, the agent's refusal; a port nobody listens on, in a few words."""
    from nomadctl.pki import issue as nomad_pki
    from tests.cluster.test_waits import closed_port
    from tests.tls_watch import probe_pair

    srv = start_cluster(agents, pki, servers=1).servers[0]
    target = {
        "host": srv.spec.ip,
        "port": 4646,
        "ca_file": str(pki.ca.cert),
        "server_name": "server.global.nomad",
        "timeout": 2.0,
    }
    assert (
        tls_probe.client_refused(client_cert=(str(pki.cli.cert), str(pki.cli.key)), **target)
        is None
    )
    other = probe_pair(nomad_pki.new_ca(), tmp_path)
    why = tls_probe.client_refused(client_cert=(str(other[0]), str(other[1])), **target)
    assert why is not None and "refuses the new CA's client certificate" in why, why
    with pytest.raises(ClusterApiError, match="to trust the new CA: not done after 1s"):
        tls_probe.wait_trusting(1, client_cert=(str(other[0]), str(other[1])), **target)
    closed = {**target, "host": "127.0.0.1", "port": closed_port()}
    why = tls_probe.client_refused(client_cert=(str(pki.cli.cert), str(pki.cli.key)), **closed)
    assert why is not None and why.startswith("cannot connect"), why
    assert srv.alive()


UNIT = """[Unit]
Description=Nomad (stand-in)

[Service]
ExecStart=/usr/local/bin/nomad agent -config /etc/nomad.d
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
KillSignal=SIGINT

[Install]
WantedBy=multi-user.target
"""


@pytest.mark.testbed
def test_reload_over_ssh_by_systemd_unit_keeps_the_main_pid(
    testbed_factory: Callable[..., Testbed], tmp_path: Path
) -> None:
    from nomadctl.node.ssh import Endpoint, KnownHosts, Session

    tb = testbed_factory(1)
    host = tb.hosts[0]
    pki = Pki(tmp_path / "pki")
    cert = pki.node("server", host.address)
    tls = CertPair(Path("/etc/nomad.d/tls/server.pem"), Path("/etc/nomad.d/tls/server-key.pem"))
    spec = Spec(
        name=host.hostname,
        ip=host.address,
        bootstrap_expect=1,
        retry_join=[host.address],
        ca_file=Path("/etc/nomad.d/tls/ca.pem"),
        tls=tls,
    )
    tb.write_file(host, "/usr/local/bin/nomad", make_binary(tmp_path / "nomad").read_bytes(), 0o755)
    tb.write_file(host, "/etc/nomad.d/tls/ca.pem", pki.ca.cert.read_bytes())
    tb.write_file(host, str(tls.cert), cert.cert.read_bytes())
    tb.write_file(host, str(tls.key), cert.key.read_bytes(), 0o600)
    tb.write_file(host, "/etc/nomad.d/nomad.hcl", render_hcl(spec, "/opt/nomad/data"))
    tb.write_file(host, "/etc/systemd/system/nomad.service", UNIT)
    tb.exec(host, "systemctl daemon-reload && systemctl enable --now nomad")
    target = {
        "host": host.address,
        "port": 4646,
        "ca_file": str(pki.ca.cert),
        "client_cert": (str(pki.cli.cert), str(pki.cli.key)),
        "server_name": "server.global.nomad",
    }
    before = wait_for(lambda: tls_probe.served_serial(**target), 15, what="agent serving TLS")

    fresh = pki.node("server", host.address)
    tb.write_file(host, str(tls.cert), fresh.cert.read_bytes())
    tb.write_file(host, str(tls.key), fresh.key.read_bytes(), 0o600)
    known = KnownHosts(tmp_path / "known_hosts", lambda p, data: p.write_bytes(data))
    with Session(Endpoint(host.address, host.port, host.user), host.key_path, known) as ssh:
        ssh.connect(wait=10)
        pid = op.reload_agent(ssh.sudo, unit="nomad")
        assert pid == tb.unit_pid(host)
        from cryptography import x509

        new = x509.load_pem_x509_certificate(fresh.cert.read_bytes()).serial_number
        assert new != before
        tls_probe.wait_serving(new, 10, **target)
        assert tb.unit_pid(host) == pid
        with pytest.raises(RemoteError, match="reloading nomad-absent"):
            op.reload_agent(ssh.sudo, unit="nomad-absent")
    assert "Caught signal: hangup" in tb.unit_log(host)
