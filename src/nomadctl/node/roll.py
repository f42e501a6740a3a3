"""Restart running agents whose files changed without losing the cluster: the roll.

`fleet.configure_all` writes every node's files first and leaves each running agent that
must restart `pending` (configure.PENDING marks it on the node). Then, when the cluster has a
leader (it is live), this module restarts:

- the servers one at a time, followers first and the leader last (the leader known by its
  server ID from autopilot, never by an address local agents may share), each only once
  quorum is measured safe (`cluster.quorum`: failure tolerance of at least 1, every other
  server answering on its own address and naming the same leader), and the next only once
  the restarted one is back: answering, a healthy voter, stable for `stable_for` seconds
  (for the last one, which no server restart follows, the clients start once it is a
  healthy voter and its stable time is checked meanwhile: `Roll._settle_last`);
- then the clients, at most `max_unavailable` at a time (the next starts as soon as one
  is back, `Roll.clients`): recorded (write-ahead, `node.marks`),
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
from nomadctl.node.rejoin import NodeWatch

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
    _settle: threading.Thread | None = None  # the last server's check, while clients roll
    _settle_error: NomadctlError | None = None
    _own_apis: dict[str, Any] = field(default_factory=dict)  # each server's own, kept

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

    def _safe(
        self, servers: list[quorum.Server], stable_for: float | None = None, **kw: Any
    ) -> quorum.Safe:
        return quorum.wait_safe(
            self._api,
            servers,
            self.options.health_timeout,
            stable_for=self.options.stable_for if stable_for is None else stable_for,
            progress=self.progress,
            cancel=self.cancel,
            kept=self._own_apis,
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
                if i == len(sequence) - 1:  # no server restarts after this one
                    self._safe(everyone, back=name, stable_for=0.0)
                    self._settle = threading.Thread(
                        target=self._settle_last, args=(everyone, result), daemon=True
                    )
                    self._settle.start()
                    return
                self._safe(everyone, back=name)
                self.progress(f"{name}: restarted, servers healthy")
            except NomadctlError as exc:
                self._stopped([by_name[n] for n in sequence[i:]], exc)
                if isinstance(exc, Cancelled):
                    raise
                return

    def _settle_last(self, everyone: list[quorum.Server], result: HostResult) -> None:
        """The last server's full check (a voter stable for `stable_for`), while the clients
        roll: it guards the next server restart, and none follows. Every server already
        runs its new files and the last is a healthy voter that answers, naming the
        leader every other server names (checked before this starts), so clients may
        restart; a failure here still fails the roll and no further client starts."""
        name = result.host.name
        try:
            self._safe(everyone, back=name)
            self.progress(f"{name}: restarted, servers healthy")
        except NomadctlError as exc:
            self._settle_error = exc
            self._stopped([result], exc)

    def _settled(self, again: bool = True) -> None:
        """Wait for the last server's check (`_settle_last`); its Cancelled is raised again
        (`again`)."""
        if self._settle is not None:
            self._settle.join()
            self._settle = None
        if again and isinstance(self._settle_error, Cancelled):
            raise self._settle_error

    def _answers(self, result: HostResult) -> None:
        """The restarted server's own API answers and knows a leader."""
        from dataclasses import replace

        own = self._own_address(result)
        api = Api(replace(self._api.target, addresses=[own]))
        api.wait_for_leader(self.options.health_timeout, None, self.cancel)

    # ---- clients ---------------------------------------------------------------------------

    def clients(self, pending: Sequence[HostResult]) -> None:
        try:
            self._clients(pending)
        except BaseException:
            self.cancel.set()  # as the caller will: the last server's wait stops too
            self._settled(again=False)
            raise
        self._settled()
        if self._settle_error is not None:  # the last server failed its check meanwhile
            for r in pending:
                if r.pending and r.status != "failed":
                    r.status = "failed"
                    r.error = f"not restarted: the rolling restart stopped at {self._halted}"

    def _clients(self, pending: Sequence[HostResult]) -> None:
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
        watch = NodeWatch.sized(self._api, len(ids)) if ids else None
        width = max(1, min(self.options.max_unavailable, len(by_name)))
        self.progress(f"clients: {len(by_name)} to restart, at most {width} at once")
        errors: list[tuple[str, NomadctlError]] = []
        started: list[str] = []
        lock, halt = threading.Lock(), threading.Event()

        def one(name: str) -> None:
            with lock:  # after a failure (or Ctrl-C) no other client starts
                if halt.is_set() or self.cancel.is_set() or self._settle_error is not None:
                    return
                started.append(name)
            try:
                error = self._client(by_name[name], ids.get(name), watch)
            except BaseException:
                halt.set()
                raise
            if error is not None:
                with lock:
                    errors.append((name, error))
                    halt.set()
                self.progress(f"{name}: failed, no other client starts: {error.message}")

        # A window, not batches: the next client starts as soon as one is back, so at most
        # `max_unavailable` are out of service at any moment and none waits for the slowest
        # of a batch (the same bound as batches of that size, kept all the time).
        pool = ThreadPoolExecutor(max_workers=width)
        try:
            list(pool.map(one, by_name))
        except BaseException:
            halt.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if errors:
            first, exc = errors[0]
            left = [r for n, r in by_name.items() if n not in started]
            for name, error in errors:
                by_name[name].status, by_name[name].error = "failed", error.message
            self._stopped(left, exc, at=first)

    def _client(
        self, result: HostResult, node_id: str | None, watch: NodeWatch | None
    ) -> NomadctlError | None:
        name = result.host.name
        try:
            if node_id is not None:
                if self.marks is not None:  # write-ahead: a killed run is finished by the next
                    self.marks.add(node_id, name)
                if self.options.client_restart == "drain":
                    deadline = self.options.drain_deadline
                    self.progress(f"{name}: draining (deadline {deadline:.0f}s)")
                    drained = operations.drain(
                        self._api, node_id, deadline, progress=self.progress, cancel=self.cancel
                    )
                else:
                    self.progress(f"{name}: marking ineligible")
                    operations.set_eligibility(self._api, node_id, False)
                    drained = operations.node(self._api, node_id)
                before = int(drained.get("ModifyIndex") or 0)  # the node as the drain left it
            self.progress(f"{name}: restarting")
            self.restart(result)
            if node_id is not None:
                self.progress(f"{name}: restarted, waiting for it to register again")
                self._ready(node_id, name, before, watch)
                operations.set_eligibility(self._api, node_id, True)
                if self.marks is not None:
                    self.marks.drop(node_id)
                self.progress(f"{name}: restarted, eligible again")
        except Cancelled:
            raise
        except NomadctlError as exc:
            return exc
        return None

    def _ready(self, node_id: str, name: str, before: int, watch: NodeWatch | None) -> None:
        """Ready *and* re-registered since the restart: Node.Register gives the node a new
        ModifyIndex; a status still `ready` from before the restart proves nothing."""

        def check() -> tuple[Any, str]:
            n = watch.node(node_id) if watch is not None else None
            if n is None:
                n = operations.node(self._api, node_id)
            status = n.get("Status")
            if int(n.get("ModifyIndex") or 0) <= before:
                return None, f"{name}: not registered again since its restart"
            return (n if status == "ready" else None), f"{name}: {status}"

        # A restarted agent registers within a second or so: look every NodeWatch.EVERY
        # (one list of the nodes serves every client waiting at that moment).
        operations.poll(
            check,
            self.options.health_timeout,
            f"waiting for {name}",
            self.progress,
            self.cancel,
            first=NodeWatch.EVERY,
            most=NodeWatch.EVERY,
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
