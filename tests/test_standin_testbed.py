"""The Nomad stand-in on testbed hosts: real network namespaces, started through the shim.

Each host gets the stand-in binary in /usr/local/bin/nomad, its HCL and TLS files in
/etc/nomad.d and a systemd unit, the way nomadctl installs Nomad; the test talks to the HTTP
API over the bridge with mutual TLS.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.standin import make_binary
from tests.standin.certs import CertPair
from tests.standin.harness import Pki, Spec, render_hcl, wait_for
from tests.testbed import Host, Testbed

pytestmark = pytest.mark.testbed

UNIT = """[Unit]
Description=Nomad (stand-in)
After=network-online.target

[Service]
ExecStart=/usr/local/bin/nomad agent -config /etc/nomad.d
KillMode=process
KillSignal=SIGINT
Restart=on-failure
TimeoutStopSec=10

[Install]
WantedBy=multi-user.target
"""
GOSSIP_KEY = base64.b64encode(b"g" * 32).decode()


def install(tb: Testbed, host: Host, binary: Path, pki: Pki, hcl: str) -> None:
    cert = pki.node("server", host.address)
    tb.write_file(host, "/usr/local/bin/nomad", binary.read_bytes(), 0o755)
    tb.write_file(host, "/etc/nomad.d/tls/ca.pem", pki.ca.cert.read_bytes())
    tb.write_file(host, "/etc/nomad.d/tls/server.pem", cert.cert.read_bytes())
    tb.write_file(host, "/etc/nomad.d/tls/server-key.pem", cert.key.read_bytes(), 0o600)
    tb.write_file(host, "/etc/nomad.d/nomad.hcl", hcl)
    tb.write_file(host, "/etc/systemd/system/nomad.service", UNIT)


def server_hcl(host: Host, join: list[str]) -> str:
    spec = Spec(
        name=host.hostname,
        ip=host.address,
        bind_addr="0.0.0.0",
        retry_join=join,
        encrypt=GOSSIP_KEY,
        ca_file=Path("/etc/nomad.d/tls/ca.pem"),
        tls=CertPair(Path("/etc/nomad.d/tls/server.pem"), Path("/etc/nomad.d/tls/server-key.pem")),
    )
    return render_hcl(spec, "/opt/nomad/data")


def test_leader_election_on_testbed_hosts(
    testbed_factory: Callable[..., Testbed], tmp_path: Path
) -> None:
    tb = testbed_factory(3)
    binary = make_binary(tmp_path / "nomad")
    pki = Pki(tmp_path / "pki")
    addrs = [h.address for h in tb.hosts]
    for h in tb.hosts:
        install(tb, h, binary, pki, server_hcl(h, addrs))
        assert tb.exec(h, "nomad version").stdout.startswith("Nomad v1.11.0")
        tb.exec(h, "systemctl daemon-reload && systemctl enable --now nomad")

    session = requests.Session()
    session.trust_env = False
    session.verify = str(pki.ca.cert)
    session.cert = (str(pki.cli.cert), str(pki.cli.key))

    def logs() -> str:
        return "\n".join(
            f"----- {h.name} {h.address} -----\n{tb.unit_log(h)[-3000:]}" for h in tb.hosts
        )

    def get(host: Host, path: str, token: str | None = None) -> requests.Response:
        headers = {"X-Nomad-Token": token} if token else {}
        return session.get(f"https://{host.address}:4646{path}", headers=headers, timeout=3)

    def agreed(hosts: list[Host], among: list[Host]) -> str:
        leaders = {get(h, "/v1/status/leader").json() for h in hosts}
        ok = {f"{h.address}:4647" for h in among}
        return leaders.pop() if len(leaders) == 1 and leaders <= ok else ""

    def wait_leader(hosts: list[Host], among: list[Host] | None = None, t: float = 30) -> str:
        return wait_for(
            lambda: agreed(hosts, among or hosts),
            t,
            interval=0.2,
            what="an agreed leader",
            on_fail=logs,
        )

    def host_of(leader: str) -> Host:
        return next(h for h in tb.hosts if leader == f"{h.address}:4647")

    leader = wait_leader(tb.hosts)
    token = session.post(f"https://{addrs[0]}:4646/v1/acl/bootstrap", timeout=5).json()
    mgmt = token["SecretID"]
    members = get(tb.hosts[1], "/v1/agent/members", mgmt).json()["Members"]
    assert sorted((m["Name"], m["Addr"], m["Status"]) for m in members) == sorted(
        (f"{h.hostname}.global", h.address, "alive") for h in tb.hosts
    )
    assert "==> Nomad agent started!" in tb.unit_log(tb.hosts[0])

    # Stop the leader's unit: the other two elect a new leader and report it failed.
    old = host_of(leader)
    tb.exec(old, "systemctl stop nomad")
    rest = [h for h in tb.hosts if h != old]
    second = wait_leader(rest)
    assert second != leader

    def status_of(host: Host) -> str:
        return {
            m["Name"]: m["Status"]
            for m in get(rest[0], "/v1/agent/members", mgmt).json()["Members"]
        }[f"{host.hostname}.global"]

    wait_for(lambda: status_of(old) == "failed", 15, what="failed member", on_fail=logs)

    # It comes back as a follower, with the cluster's state (the token still works there).
    tb.exec(old, "systemctl start nomad")
    wait_for(lambda: status_of(old) == "alive", 15, what="member alive again", on_fail=logs)
    assert wait_leader(tb.hosts, among=rest) == second
    wait_for(
        lambda: get(old, "/v1/agent/members", mgmt).status_code == 200,
        15,
        what="replicated token on the restarted server",
        on_fail=logs,
    )

    # Cut the leader's network: the other two elect another leader; it rejoins when back.
    cut = host_of(second)
    tb.net_down(cut)
    try:
        others = [h for h in tb.hosts if h != cut]
        third = wait_leader(others)
        assert third != second
    finally:
        tb.net_up(cut)
    assert wait_leader(tb.hosts, among=others) == third

    # Two of three stopped: no leader on the last one.
    leader_host = host_of(third)
    stop = [next(h for h in tb.hosts if h != leader_host), leader_host]
    for h in stop:
        tb.exec(h, "systemctl stop nomad")
    last = next(h for h in tb.hosts if h not in stop)
    wait_for(
        lambda: get(last, "/v1/status/leader").json() == "", 15, what="no leader", on_fail=logs
    )

    # A bad gossip key makes the unit fail with Nomad's error in its log.
    bad = stop[0]
    tb.write_file(
        bad, "/etc/nomad.d/nomad.hcl", server_hcl(bad, addrs).replace(GOSSIP_KEY, "bm90IGEga2V5")
    )
    tb.exec(bad, "systemctl start nomad")

    def failed() -> bool:
        res = tb.exec(bad, "systemctl is-active nomad", check=False)
        return res.stdout.strip() in ("failed", "inactive")

    wait_for(failed, 15, what="unit failed", on_fail=logs)
    assert "==> Error: Invalid encryption key" in tb.unit_log(bad)
    with pytest.raises(subprocess.CalledProcessError):
        tb.exec(bad, "systemctl is-active --quiet nomad")
