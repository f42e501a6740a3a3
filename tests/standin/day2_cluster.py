"""Test helper for day-2 tests: a TLS + ACL stand-in cluster on loopback, bootstrapped."""

from __future__ import annotations

import base64
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from tests.standin.harness import LocalAgents, Pki, Running, Spec, next_ip, wait_for

GOSSIP_KEY = base64.b64encode(b"k" * 32).decode()


@dataclass
class Cluster:
    agents: LocalAgents
    servers: list[Running]
    clients: list[Running]
    token: str  # management

    def leader(self) -> Running:
        addr = wait_for(lambda: self.alive()[0].leader(), 15, what="leader")
        return next(s for s in self.servers if f"{s.spec.ip}:4647" == addr and s.alive())

    def alive(self) -> list[Running]:
        return [s for s in self.servers if s.alive()]

    def api(self, path: str, method: str = "GET", token: str | None = "", **kw: Any) -> Any:
        """A call to the first live server; token "" means the management token."""
        return self.alive()[0].api(path, method, token=self.token if token == "" else token, **kw)

    def token_for(self, name: str, rules: str) -> str:
        body = {"Name": name, "Description": name, "Rules": rules}
        r = self.api(f"/v1/acl/policy/{name}", "POST", json=body)
        assert r.status_code == 200, r.text
        body = {"Name": name, "Type": "client", "Policies": [name]}
        r = self.api("/v1/acl/token", "POST", json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["SecretID"])

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Node name -> full node."""
        out = {}
        for stub in self.api("/v1/nodes").json():
            out[stub["Name"]] = self.api(f"/v1/node/{stub['ID']}").json()
        return out

    def raft_ids(self) -> list[str]:
        r = self.leader().api("/v1/operator/raft/configuration", token=self.token)
        return sorted(s["Node"] for s in r.json()["Servers"])


def server_spec(pki: Pki, name: str, ip: str, join: list[str], n: int, **kw: Any) -> Spec:
    return Spec(
        name=name,
        ip=ip,
        bootstrap_expect=n,
        retry_join=join,
        encrypt=GOSSIP_KEY,
        tls=pki.node("server", ip),
        ca_file=pki.ca.cert,
        **kw,
    )


def start_cluster(
    agents: LocalAgents, pki: Pki, servers: int = 1, clients: int = 0, **kw: Any
) -> Cluster:
    ips = [next_ip() for _ in range(servers)]
    srv = [
        agents.start(server_spec(pki, f"server-{i + 1}", ip, ips, servers, **kw))
        for i, ip in enumerate(ips)
    ]
    for s in srv:
        agents.wait_http(s)

    def agreed() -> str:
        leaders = {s.leader() for s in srv}
        return leaders.pop() if len(leaders) == 1 else ""

    wait_for(agreed, 20, what="one leader", on_fail=agents.logs)
    r = srv[0].api("/v1/acl/bootstrap", "POST")
    assert r.status_code == 200, r.text
    cluster = Cluster(agents, srv, [], str(r.json()["SecretID"]))
    for i in range(clients):
        ip = next_ip()
        spec = Spec(
            name=f"client-{i + 1}",
            ip=ip,
            server=False,
            client=True,
            servers=ips,
            tls=pki.node("client", ip),
            ca_file=pki.ca.cert,
        )
        cluster.clients.append(agents.start(spec))

    def ready() -> bool:
        nodes = cluster.api("/v1/nodes").json()
        return len([n for n in nodes if n["Status"] == "ready"]) == clients

    wait_for(ready, 20, what=f"{clients} ready nodes", on_fail=agents.logs)
    return cluster


def served_serial(agent: Running, pki: Pki, port: int = 4646, role: str = "server") -> int:
    """The serial number of the certificate a fresh TLS connection to `agent` is shown."""
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.load_cert_chain(str(pki.cli.cert), str(pki.cli.key))
    with (
        socket.create_connection((agent.spec.ip, port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=f"{role}.{pki.region}.nomad") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def elapsed_since(t0: float) -> float:
    return time.monotonic() - t0
