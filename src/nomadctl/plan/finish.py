"""`up`'s last steps on a live cluster: wait for a leader, then bootstrap ACLs (once; later
runs only check the token), in a thread of its own once every server is configured."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from nomadctl.cluster import acl
from nomadctl.cluster.api import Api
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import Cancelled, RemoteError
from nomadctl.node.configure import HostResult
from nomadctl.plan.report import UpReport
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]


Watch = Callable[[], dict[str, str]]  # agents the leader needs that died, with why
WATCH_EVERY = 0.25  # seconds between two looks at the agents during the leader wait


def finish(
    ws: Workspace,
    report: UpReport,
    *,
    bootstrap_acl: bool,
    leader_timeout: float,
    progress: Progress,
    cancel: threading.Event | None = None,
    watch: Watch | None = None,
) -> UpReport:
    """Wait for a leader and bootstrap ACLs (once; later runs only check the token).

    `watch` (the provider's: local pid files, or systemd over SSH) is asked during the
    leader wait; an agent that died while the cluster was forming ends the wait at once with
    why, instead of after the leader timeout."""
    target = workspace_target(ws)
    api = Api(acl.with_token(target, ""))
    cancel = cancel or threading.Event()
    with _watching(watch, cancel) as died:
        try:
            report.leader = api.wait_for_leader(leader_timeout, progress, cancel)
        except Cancelled:
            if died:
                raise RemoteError(died[0]) from None
            raise
    progress(f"leader elected: {report.leader}")
    if bootstrap_acl:
        result = acl.bootstrap(
            ws,
            target,
            progress=progress,
            leader_timeout=leader_timeout,
            cancel=cancel,
            anonymous=api,  # its connection to the leader is kept for the bootstrap
            transient_for=acl.TRANSIENT_FOR,  # this run's reloads (acl._LeaderRetry)
        )
        report.acl = result.status
    else:
        report.acl = "skipped"
    return report


@contextmanager
def _watching(watch: Watch | None, cancel: threading.Event) -> Iterator[list[str]]:
    """Look at the agents (`watch`) in a thread until the block ends; on a death, note why
    and set `cancel`, which ends the leader wait."""
    died: list[str] = []
    if watch is None:
        yield died
        return
    done = threading.Event()

    def look() -> None:
        while not done.wait(WATCH_EVERY) and not cancel.is_set():
            dead = watch()
            if dead:
                died.extend(dead.values())
                cancel.set()
                return

    thread = threading.Thread(target=look, name="nomadctl-watch-agents")
    thread.start()
    try:
        yield died
    finally:
        done.set()
        thread.join()


@dataclass
class EarlyFinish:
    """`finish` in its own thread, started once every server is configured.

    The servers can elect a leader, and ACLs be bootstrapped, while clients are still being
    configured (on AWS they also install Docker, which takes much longer than a server).
    Ctrl-C sets `cancel`, which ends the leader wait at once; a bootstrap already sent is
    let finish so its token is saved."""

    ws: Workspace
    bootstrap_acl: bool
    leader_timeout: float
    progress: Progress
    watch: Watch | None = None
    report: UpReport = field(default_factory=UpReport)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self, server_results: list[HostResult]) -> None:
        if any(r.status == "failed" for r in server_results):
            return  # no leader to wait for; the report names the failed servers
        self.thread = threading.Thread(target=self._run, name="nomadctl-finish")
        self.thread.start()

    def _run(self) -> None:
        try:
            finish(
                self.ws,
                self.report,
                bootstrap_acl=self.bootstrap_acl,
                leader_timeout=self.leader_timeout,
                progress=self.progress,
                cancel=self.cancel,
                watch=self.watch,
            )
        except BaseException as exc:  # handed to the main thread
            self.error = exc

    def join(self) -> None:
        if self.thread is None:
            return
        try:
            self.thread.join()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.cancel.set()
        if self.thread is not None:
            self.thread.join()
