"""Automatic snapshots before risk (issue 24 point 3).

`up` takes one before a change that restarts, replaces or removes a server: the first server
restart of a configure pass (a rolling upgrade; `NodeOptions.before_server_restart`), each
CA-rotation pass, the replacement of servers, a scale-in of servers; `down` takes a final one.
At most one per risk point (`key`), and none on a cluster that has no management token in the
workspace (nothing bootstrapped yet: nothing to save). A snapshot that fails stops the change,
with the reason and the way round (`--no-snapshot`). They are the workspace's automatic
snapshots (cluster/snapshot_store.py), pruned to the newest `keep`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nomadctl.cluster import acl, snapshot_store
from nomadctl.cluster.api import Api
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import NomadctlError
from nomadctl.hosts import hosts_of
from nomadctl.providers.aws import snapshot_copy
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]


def s3_copier(
    url: str, region: str | None = None, profile: str | None = None
) -> Callable[[Path], str] | None:
    """`--snapshot-to`'s copy function (checked now, before anything runs), None without."""
    if not url:
        return None
    target = snapshot_copy.parse(url, region, profile)
    return lambda path: snapshot_copy.copy(path, target)


@dataclass
class AutoSnapshots:
    ws: Workspace
    enabled: bool = True  # False: --no-snapshot
    keep: int = snapshot_store.DEFAULT_KEEP
    progress: Progress = lambda _m: None
    copy: Callable[[Path], str] | None = None  # --snapshot-to: the off-machine copy's URL
    leader_timeout: float = 60.0  # agents this run just started may not have elected one yet
    taken: list[snapshot_store.Saved] = field(default_factory=list)
    _done: set[str] = field(default_factory=set)

    def live(self) -> bool:
        """A cluster to save: servers recorded and a management token in the workspace."""
        if not acl.token_path(self.ws, "management").exists():
            return False
        try:
            return any(h.role == "server" for h in hosts_of(self.ws.load_state()))
        except NomadctlError:  # a damaged state.json: no servers to ask
            return False

    def before(self, key: str, reason: str, progress: Progress | None = None) -> None:
        """Save one automatic snapshot before `reason`, once per `key`; a failure raises
        (the caller's change does not start)."""
        say = progress or self.progress
        if not self.enabled or key in self._done:
            return
        self._done.add(key)
        if not self.live():
            return
        started = time.monotonic()
        try:
            target = workspace_target(self.ws)
            Api(target).wait_for_leader(self.leader_timeout, say)
            saved = snapshot_store.take(
                self.ws, target, automatic=True, reason=reason, keep=self.keep
            )
            if self.copy is not None:
                saved.copied = self.copy(saved.path)
        except NomadctlError as exc:
            exc.message = (
                f"the snapshot before {reason} failed, so nothing was changed: {exc.message} "
                "(--no-snapshot goes ahead without one)"
            )
            exc.args = (exc.message,)
            raise
        self.taken.append(saved)
        pruned = f"; {len(saved.pruned)} older automatic one(s) pruned" if saved.pruned else ""
        took = time.monotonic() - started
        say(
            f"snapshot before {reason}: {saved.path.name} (raft index {saved.info.index}, "
            f"{saved.info.file_size} bytes, {took:.2f} s){pruned}"
            + (f"; copied to {saved.copied}" if saved.copied else "")
        )
