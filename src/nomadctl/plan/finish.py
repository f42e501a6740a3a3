"""`up`'s last steps on a live cluster: wait for a leader, then bootstrap ACLs (once; later
runs only check the token), in a thread of its own once every server is configured."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from nomadctl.cluster import acl
from nomadctl.cluster.api import Api
from nomadctl.cluster.target import workspace_target
from nomadctl.node.configure import HostResult
from nomadctl.plan.report import UpReport
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]


def finish(
    ws: Workspace,
    report: UpReport,
    *,
    bootstrap_acl: bool,
    leader_timeout: float,
    progress: Progress,
    cancel: threading.Event | None = None,
) -> UpReport:
    """Wait for a leader and bootstrap ACLs (once; later runs only check the token)."""
    target = workspace_target(ws)
    api = Api(acl.with_token(target, ""))
    report.leader = api.wait_for_leader(leader_timeout, progress, cancel)
    progress(f"leader elected: {report.leader}")
    if bootstrap_acl:
        result = acl.bootstrap(
            ws, target, progress=progress, leader_timeout=leader_timeout, cancel=cancel
        )
        report.acl = result.status
    else:
        report.acl = "skipped"
    return report


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
