"""Restart running agents whose files changed without losing the cluster: the roll.

`fleet.configure_all` writes every node's files first and leaves each running agent that
must restart `pending` (configure.PENDING marks it on the node). Then, when the cluster has a
leader (it is live), this module restarts:

- the servers one at a time, followers first and the leader last (the leader known by its
  server ID from autopilot, never by an address local agents may share), each only once
  quorum is measured safe (`cluster.quorum`: failure tolerance of at least 1, every other
  server answering on its own address and naming the same leader), and the next only once
  the restarted one is back: answering, a healthy voter, stable for `stable_for` seconds;
- then the clients in batches of `max_unavailable`: recorded (write-ahead, `node.marks`),
  drained with a deadline (or only marked ineligible), restarted, and made eligible again
  once they have re-registered since their restart (a new ModifyIndex: a client that is
  still `ready` from before its restart is not back) and are ready.

Nodes a killed run left ineligible are made eligible again by the next (`restore_marked`).

Without a leader (the first `up`, or a cluster that is down anyway) pending agents restart
all at once, as a fresh cluster needs. A failure stops the roll: the node it stopped at and
every node not yet restarted are reported failed (with what happened), and their PENDING
marks stay, so the next `up` restarts exactly those.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nomadctl.cluster import operations, quorum
from nomadctl.cluster.api import Api
from nomadctl.errors import Cancelled, ClusterApiError, NomadctlError
from nomadctl.node import order
from nomadctl.node.configure import HostResult
from nomadctl.node.marks import Marks, restore

Progress = Callable[[str], None]
Restart = Callable[[HostResult], None]  # restart one pending agent (raises NomadctlError)


@dataclass
class Roll:
    target_of: Callable[[], Any]  # -> api.ApiTarget of the workspace's cluster (lazy)
    options: order.RolloutOptions
    restart: Restart
    progress: Progress
    cancel: threading.Event = field(default_factory=threading.Event)
    servers_of: Callable[[], list[quorum.Server]] | None = None  # every server, own address
    marks: Marks | None = None  # nodes this roll made ineligible, recorded write-ahead
    _api: Any = None
    _halted: str | None = None  # where the roll stopped: nothing after it restarts
    _leader: str | None = None
    _looked: bool = False

    # ---- the cluster ----------------------------------------------------------------------

    def leader(self) -> str | None:
        """The leader's RPC address, looked up once; None: no leader (or no answer)."""
        if not self._looked:
            self._looked = True

            try:
                self._api = Api(self.target_of())
                self._leader = self._api.leader() or None
            except NomadctlError:
                self._leader = None
        return self._leader

    def _has_token(self) -> bool:
        return bool(self._api is not None and self._api.target.token)

    def _all_servers(self, pending: Sequence[HostResult]) -> list[quorum.Server]:
        known = list(self.servers_of()) if self.servers_of is not None else []
        names = {s.name for s in known}
        return known + [
            quorum.Server(r.host.name, self._own_address(r))
            for r in pending
            if r.host.name not in names
        ]

    def _own_address(self, result: HostResult) -> str:
        """The restarted server's own API address among the target's (ip *and* port: local
        agents may share an address on different ports)."""
        ips = {result.host.private_ip, result.host.public_ip}
        for address in self._api.target.addresses:
            host_port = address.split("//")[-1]
            ip, _, port = host_port.rpartition(":")
            if ip in ips and port == str(result.host.http_port):
                return address
        return f"https://{result.host.private_ip}:{result.host.http_port}"

    def _safe(self, servers: list[quorum.Server], **kw: Any) -> quorum.Safe:
        return quorum.wait_safe(
            self._api,
            servers,
            self.options.health_timeout,
            stable_for=self.options.stable_for,
            progress=self.progress,
            cancel=self.cancel,
            **kw,
        )

    def _leader_name(self, safe: quorum.Safe, pending: Sequence[HostResult]) -> str | None:
        """The leader among `pending`: by autopilot's server ID (a token), else by the one
        pending server whose address the leader's RPC address names."""
        if safe.leader_name:
            return safe.leader_name
        ip = (self._leader or "").rsplit(":", 1)[0]
        named = [r.host.name for r in pending if r.host.private_ip == ip]
        return named[0] if len(named) == 1 else None

    # ---- servers -----------------------------------------------------------------------------

    def servers(self, pending: Sequence[HostResult]) -> None:
        if not pending:
            return
        leader = self.leader()
        if leader is None:
            self._all_at_once(pending)
            return
        by_name = {r.host.name: r for r in pending}
        everyone = self._all_servers(pending)
        sequence = list(by_name)
        try:
            safe = self._safe(everyone)
        except NomadctlError as exc:
            self._stopped([by_name[n] for n in sequence], exc)
            if isinstance(exc, Cancelled):
                raise
            return
        leader_name = self._leader_name(safe, pending)
        sequence = order.server_restart_order(sequence, leader_name)
        for i, name in enumerate(sequence):
            result = by_name[name]
            try:
                self._safe(everyone, going=name)  # measured, not assumed, before each one
                role = ", the leader" if name == leader_name else ""
                self.progress(f"{name}: restarting (server {i + 1} of {len(sequence)}{role})")
                self.restart(result)
                self._answers(result)
                self._safe(everyone, back=name)
                self.progress(f"{name}: restarted, servers healthy")
            except NomadctlError as exc:
                self._stopped([by_name[n] for n in sequence[i:]], exc)
                if isinstance(exc, Cancelled):
                    raise
                return

    def _answers(self, result: HostResult) -> None:
        """The restarted server's own API answers and knows a leader."""
        from dataclasses import replace

        own = self._own_address(result)
        api = Api(replace(self._api.target, addresses=[own]))
        api.wait_for_leader(self.options.health_timeout, None, self.cancel)

    # ---- clients ---------------------------------------------------------------------------

    def clients(self, pending: Sequence[HostResult]) -> None:
        if not pending:
            return
        if self._halted is not None:  # the servers' roll stopped: the clients wait too
            for r in pending:
                r.status = "failed"
                r.error = f"not restarted: the rolling restart stopped at {self._halted}"
            return
        if self.leader() is None:
            self._all_at_once(pending)
            return
        ids: dict[str, str] = {}
        if self._has_token():
            try:
                ids = {n["Name"]: n["ID"] for n in self._api.nodes()}
            except ClusterApiError as exc:
                self._stopped(list(pending), exc)
                return
        by_name = {r.host.name: r for r in pending}
        batches = order.client_batches(list(by_name), self.options.max_unavailable)
        for i, batch in enumerate(batches):
            self.progress(f"clients: batch {i + 1} of {len(batches)}: {', '.join(batch)}")
            errors: list[tuple[str, NomadctlError]] = []
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                for name, error in zip(
                    batch,
                    pool.map(lambda n: self._client(by_name[n], ids.get(n)), batch),
                    strict=True,
                ):
                    if error is not None:
                        errors.append((name, error))
            if errors:
                first, exc = errors[0]
                left = [by_name[n] for b in batches[i + 1 :] for n in b]
                for name, error in errors:
                    by_name[name].status, by_name[name].error = "failed", error.message
                self._stopped(left, exc, at=first)
                return

    def _client(self, result: HostResult, node_id: str | None) -> NomadctlError | None:
        name = result.host.name
        try:
            if node_id is not None:
                if self.marks is not None:  # write-ahead: a killed run is finished by the next
                    self.marks.add(node_id, name)
                if self.options.client_restart == "drain":
                    deadline = self.options.drain_deadline
                    self.progress(f"{name}: draining (deadline {deadline:.0f}s)")
                    operations.drain(
                        self._api, node_id, deadline, progress=self.progress, cancel=self.cancel
                    )
                else:
                    self.progress(f"{name}: marking ineligible")
                    operations.set_eligibility(self._api, node_id, False)
                before = int(operations.node(self._api, node_id).get("ModifyIndex") or 0)
            self.progress(f"{name}: restarting")
            self.restart(result)
            if node_id is not None:
                self.progress(f"{name}: restarted, waiting for it to register again")
                self._ready(node_id, name, before)
                operations.set_eligibility(self._api, node_id, True)
                if self.marks is not None:
                    self.marks.drop(node_id)
                self.progress(f"{name}: restarted, eligible again")
        except Cancelled:
            raise
        except NomadctlError as exc:
            return exc
        return None

    def _ready(self, node_id: str, name: str, before: int) -> None:
        """Ready *and* re-registered since the restart: Node.Register gives the node a new
        ModifyIndex; a status still `ready` from before the restart proves nothing."""

        def check() -> tuple[Any, str]:
            n = operations.node(self._api, node_id)
            status = n.get("Status")
            if int(n.get("ModifyIndex") or 0) <= before:
                return None, f"{name}: not registered again since its restart"
            return (n if status == "ready" else None), f"{name}: {status}"

        # A restarted agent registers within a second or so: look often (one small GET).
        operations.poll(
            check,
            self.options.health_timeout,
            f"waiting for {name}",
            self.progress,
            self.cancel,
            first=0.05,
            most=0.5,
        )

    def restore_marked(self) -> None:
        """Make eligible again the nodes an interrupted run left ineligible (`node.marks`)."""
        if self.marks is None or not self.marks.listed() or self.leader() is None:
            return
        if self._has_token():
            restore(self._api, self.marks, self.progress)

    # ---- shared ------------------------------------------------------------------------------

    def _all_at_once(self, pending: Sequence[HostResult]) -> None:
        def one(result: HostResult) -> None:
            try:
                self.restart(result)
            except NomadctlError as exc:
                result.status, result.error = "failed", exc.message

        with ThreadPoolExecutor(max_workers=max(1, min(32, len(pending)))) as pool:
            list(pool.map(one, pending))

    def _stopped(
        self, left: Sequence[HostResult], exc: NomadctlError, at: str | None = None
    ) -> None:
        """Report where the roll stopped: the node it failed on and those not restarted."""
        where = at or (left[0].host.name if left else "?")
        self._halted = where
        rest = [r.host.name for r in left if r.host.name != where]
        todo = f"; not restarted yet: {', '.join(rest)}" if rest else ""
        self.progress(f"rolling restart stopped at {where}: {exc.message}{todo}")
        for r in left:
            r.status = "failed"
            if r.host.name == where:
                r.error = f"rolling restart stopped here: {exc.message}{todo}"
            else:
                r.error = f"not restarted: the rolling restart stopped at {where}"
