"""Hosts you already have (`--server/--client`): nomadctl uses them, and on `down` takes
off what it put there; the machines stay yours."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from nomadctl.errors import UsageError
from nomadctl.hosts import Host, SshOptions, hosts_of
from nomadctl.node.connect import forget_pins
from nomadctl.providers import DownOptions
from nomadctl.providers import state as cluster_state
from nomadctl.providers.base import (
    Applied,
    Destroyed,
    Forgotten,
    PlannedHost,
    Progress,
    ProviderPlan,
    Reach,
)
from nomadctl.providers.base import Resource as HostRecord
from nomadctl.providers.hosts.preflight import docker_preflight
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
    ssh: SshOptions
    servers: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    force: bool = False  # down: skip hosts that do not answer within `ssh_wait`, forget them
    ssh_wait: float | None = None  # down: seconds each host gets to answer SSH
    docker: bool = True  # up: clients get Docker (checked in `prepare`)
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

    def prepare(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> None:
        """Before anything is written: each client that needs Docker can get it (a package
        mirror answers), else one error naming --no-docker (preflight.py)."""
        if not self.docker:
            return
        clients = [h for h in named_hosts(ws.cluster, self.servers, self.clients)
                   if h.role == "client"]  # fmt: skip
        plan.detail = {"pins": docker_preflight(ws, clients, self.ssh, progress)}

    def apply(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> Applied:
        hosts = named_hosts(ws.cluster, self.servers, self.clients)
        ws.create()
        pins = plan.detail.get("pins") if isinstance(plan.detail, dict) else None
        if pins and not (ws.path / "known_hosts").exists():  # the keys `prepare` met first
            ws.write_public(ws.path / "known_hosts", pins)
        ws.update_state(provider=NAME, hosts=[h.to_dict() for h in hosts])
        return Applied(hosts)

    def hosts(self, ws: Workspace) -> list[Host]:
        if not ws.state_path.exists():
            return []
        return hosts_of(ws.load_state())

    def remove(self, ws: Workspace, hosts: Sequence[Host], progress: Progress) -> None:
        """The machines are yours: teardown already took off what nomadctl put there."""

    def agents(self, ws: Workspace) -> SshAgents:
        return SshAgents(self.ssh)

    def reach(self, ws: Workspace) -> Reach:
        return Reach(ssh=True)

    def replace(
        self, ws: Workspace, host: Host, plan: ProviderPlan, progress: Progress
    ) -> list[Host]:
        """Never planned here (no machine type to change)."""
        raise UsageError(
            f"{host.name}: hosts you already have are yours: nomadctl never replaces them"
        )

    def destroy(self, ws: Workspace, progress: Progress, dry_run: bool = False) -> Destroyed:
        """Stop Nomad on every recorded host and remove what nomadctl put there; a host that
        does not answer fails the `down`, or with `force` is skipped (gone for good)."""
        from nomadctl.providers.ssh_agents import teardown_hosts

        hosts = self.hosts(ws)
        wait = self.ssh_wait if self.ssh_wait is not None else self.ssh.connect_timeout
        said = {"where": "hosts you already have", "kind": NAME, "force": self.force, "wait": wait}
        if dry_run or not hosts:
            records = [HostRecord("host", h.name, h.private_ip, "remove") for h in hosts]
            return Destroyed(records, **said)
        done = teardown_hosts(ws, progress, parallel=self.ssh.parallel, wait=self.ssh_wait)
        skipped = done.unreachable if self.force else []
        left = [*done.failed, *([] if self.force else done.unreachable)]
        records = [HostRecord("host", h.name, h.private_ip, "cleaned") for h in done.cleaned]
        records += [HostRecord("host", h.name, h.private_ip, "skipped", why) for h, why in skipped]
        records += [HostRecord("host", h.name, h.private_ip, "failed", why) for h, why in left]
        out = Destroyed(records, errors=done.errors(self.force), **said)
        out.summary = {
            "hosts": [h.to_dict() for h in hosts],
            "removed": [h.name for h in done.cleaned],
            "skipped": [{"name": h.name, "reason": why} for h, why in skipped],
            "errors": out.errors,
        }
        out.unreachable = [h.name for h, _ in done.unreachable]
        return out

    def forget(self, ws: Workspace, done: Destroyed) -> Forgotten:
        """Hosts cleaned, or skipped for good (their pins too: the IP is free), leave the
        state; `provider` stays, so a second `down` is a no-op."""

        gone = {r.name for r in done.resources if r.status in ("cleaned", "skipped")}
        if not gone or not ws.state_path.exists():
            return Forgotten("nothing")
        skipped = {r.name for r in done.resources if r.status == "skipped"}
        forget_pins(ws, [h for h in self.hosts(ws) if h.name in skipped])
        left = cluster_state.drop_hosts(ws, gone)
        return Forgotten("hosts", hosts=len(gone), kept=len(left))


def for_down(state: dict, opts: DownOptions) -> StaticProvider:
    return StaticProvider(SshOptions(), force=opts.force, ssh_wait=opts.ssh_wait)
