"""Restart running agents whose files changed without losing the cluster: the roll.

`fleet.configure_all` writes every node's files first and leaves each running agent that
must restart `pending` (configure.PENDING marks it on the node). Then, when the cluster has a
leader (it is live), this module restarts:

- the servers one at a time, followers first and the leader last, each only while autopilot
  reports every server healthy, and the next only once the restarted one answers with a
  leader and autopilot is healthy again (operations.wait_healthy);
- then the clients in batches of `max_unavailable`: drained with a deadline (or only marked
  ineligible), restarted, and made eligible again once they are ready.

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

from nomadctl.cluster import operations
from nomadctl.cluster.api import Api
from nomadctl.errors import Cancelled, ClusterApiError, NomadctlError
from nomadctl.node import order
from nomadctl.node.configure import HostResult

Progress = Callable[[str], None]
Restart = Callable[[HostResult], None]  # restart one pending agent (raises NomadctlError)


@dataclass
class Roll:
    target_of: Callable[[], Any]  # -> api.ApiTarget of the workspace's cluster (lazy)
    options: order.RolloutOptions
    restart: Restart
    progress: Progress
    cancel: threading.Event = field(default_factory=threading.Event)
    _api: Any = None
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

    def _healthy(self, voters: int | None = None) -> None:
        if self._has_token():
            operations.wait_healthy(
                self._api,
                self.options.health_timeout,
                voters=voters,
                progress=self.progress,
                cancel=self.cancel,
            )
        else:  # ACLs not bootstrapped: autopilot needs operator:read, a leader is all we see
            self._api.wait_for_leader(self.options.health_timeout, self.progress, self.cancel)

    def _answers(self, result: HostResult) -> None:
        """The restarted server's own API answers and knows a leader."""
        from dataclasses import replace

        ips = {result.host.private_ip, result.host.public_ip}
        own = [a for a in self._api.target.addresses if a.split("//")[-1].rsplit(":", 1)[0] in ips]
        api = Api(replace(self._api.target, addresses=own)) if own else self._api
        api.wait_for_leader(self.options.health_timeout, None, self.cancel)

    # ---- servers -----------------------------------------------------------------------------

    def servers(self, pending: Sequence[HostResult]) -> None:
        if not pending:
            return
        leader = self.leader()
        if leader is None:
            self._all_at_once(pending)
            return
        by_name = {r.host.name: r for r in pending}
        leader_ip = leader.rsplit(":", 1)[0]
        leader_name = next((r.host.name for r in pending if r.host.private_ip == leader_ip), None)
        sequence = order.server_restart_order(list(by_name), leader_name)
        for i, name in enumerate(sequence):
            result = by_name[name]
            try:
                if i == 0:  # losing one server must not lose quorum (later: checked below)
                    self._healthy()
                role = ", the leader" if name == leader_name else ""
                self.progress(f"{name}: restarting (server {i + 1} of {len(sequence)}{role})")
                self.restart(result)
                self._answers(result)
                self._healthy()
                self.progress(f"{name}: restarted, servers healthy")
            except NomadctlError as exc:
                self._stopped([by_name[n] for n in sequence[i:]], exc)
                if isinstance(exc, Cancelled):
                    raise
                return

    # ---- clients ---------------------------------------------------------------------------

    def clients(self, pending: Sequence[HostResult]) -> None:
        if not pending:
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
                if self.options.client_restart == "drain":
                    deadline = self.options.drain_deadline
                    self.progress(f"{name}: draining (deadline {deadline:.0f}s)")
                    operations.drain(
                        self._api, node_id, deadline, progress=self.progress, cancel=self.cancel
                    )
                else:
                    self.progress(f"{name}: marking ineligible")
                    operations.set_eligibility(self._api, node_id, False)
            self.progress(f"{name}: restarting")
            self.restart(result)
            if node_id is not None:
                self._ready(node_id, name)
                operations.set_eligibility(self._api, node_id, True)
                self.progress(f"{name}: restarted, eligible again")
        except Cancelled:
            raise
        except NomadctlError as exc:
            return exc
        return None

    def _ready(self, node_id: str, name: str) -> None:
        def check() -> tuple[Any, str]:
            n = operations.node(self._api, node_id)
            status = n.get("Status")
            return (n if status == "ready" else None), f"{name}: {status}"

        operations.poll(
            check, self.options.health_timeout, f"waiting for {name}", self.progress, self.cancel
        )

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
        rest = [r.host.name for r in left if r.host.name != where]
        todo = f"; not restarted yet: {', '.join(rest)}" if rest else ""
        self.progress(f"rolling restart stopped at {where}: {exc.message}{todo}")
        for r in left:
            r.status = "failed"
            if r.host.name == where:
                r.error = f"rolling restart stopped here: {exc.message}{todo}"
            else:
                r.error = f"not restarted: the rolling restart stopped at {where}"
