"""Hosts you already have (`--server/--client`): nomadctl uses them, and on `down` takes
off what it put there; the machines stay yours."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from nomadctl import nodes
from nomadctl.errors import UsageError
from nomadctl.hosts import Host
from nomadctl.providers.base import Applied, Destroyed, PlannedHost, Progress, ProviderPlan
from nomadctl.providers.base import Resource as HostRecord
from nomadctl.providers.ssh_agents import SshAgents
from nomadctl.workspace import Workspace

NAME = "static"


def named_hosts(cluster: str, servers: Sequence[str], clients: Sequence[str]) -> list[Host]:
    """Hosts the user already has, named like AWS ones: `<cluster>-server-1`, ..."""
    hosts: list[Host] = []
    seen: set[str] = set()
    for role, addresses in (("server", servers), ("client", clients)):
        for i, addr in enumerate(addresses, start=1):
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise UsageError(
                    f"--{role} {addr!r} is not an IP address (Nomad advertises IP addresses)"
                ) from None
            if addr in seen:
                raise UsageError(f"address {addr} is given twice")
            seen.add(addr)
            hosts.append(Host(f"{cluster}-{role}-{i}", role, addr))  # type: ignore[arg-type]
    return hosts


@dataclass(frozen=True)
class StaticProvider:
    ssh: nodes.SshOptions
    servers: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    name: str = NAME

    def validate(self, cluster: str) -> None:
        if not self.servers:
            raise UsageError("--client needs at least one --server")
        if len(self.servers) % 2 == 0:
            raise UsageError(f"{len(self.servers)} servers cannot keep a quorum; use an odd number")
        if self.ssh.key_path is None:
            raise UsageError("hosts you already have need --ssh-key (a private key they accept)")
        named_hosts(cluster, self.servers, self.clients)

    def plan(self, ws: Workspace, progress: Progress) -> ProviderPlan:
        hosts = named_hosts(ws.cluster, self.servers, self.clients)
        recorded = {h.private_ip for h in self.hosts(ws)}
        return ProviderPlan(
            provider=NAME,
            where="hosts you already have",
            hosts=[
                PlannedHost(
                    h.name,
                    h.role,
                    h.private_ip,
                    "keep" if h.private_ip in recorded else "use",
                )
                for h in hosts
            ],
            changed=True,
            spends_money=False,
        )

    def apply(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> Applied:
        hosts = named_hosts(ws.cluster, self.servers, self.clients)
        ws.create()
        ws.update_state(provider=NAME, hosts=[h.to_dict() for h in hosts])
        return Applied(hosts)

    def hosts(self, ws: Workspace) -> list[Host]:
        from nomadctl import lifecycle

        if not ws.state_path.exists():
            return []
        return lifecycle.hosts_of(ws.load_state())

    def remove(self, ws: Workspace, hosts: Sequence[Host], progress: Progress) -> None:
        """The machines are yours: teardown already took off what nomadctl put there."""

    def agents(self, ws: Workspace) -> SshAgents:
        return SshAgents(self.ssh)

    def destroy(self, ws: Workspace, progress: Progress, dry_run: bool = False) -> Destroyed:
        hosts = self.hosts(ws)
        records = [
            HostRecord("host", h.name, h.private_ip, "remove" if dry_run else "cleaned")
            for h in hosts
        ]
        if dry_run or not hosts:
            return Destroyed(records, where="hosts you already have")
        errors = self.agents(ws).teardown(ws, hosts, progress)
        return Destroyed(records, where="hosts you already have", errors=errors)
