"""Agents reached over SSH: the hosts of the AWS provider and hosts you already have.

Configuration and teardown go through `nomadctl.node.fleet` (one SSH connection per host, hosts
in parallel); this adapter only carries the SSH options so the plan never needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nomadctl.errors import RemoteError
from nomadctl.hosts import Host, SshOptions, hosts_of, ssh_options_from_state
from nomadctl.node import fleet, render
from nomadctl.node.configure import teardown_script
from nomadctl.node.connect import session_for
from nomadctl.providers.base import Progress
from nomadctl.providers.ssh_outage import SshOutage
from nomadctl.providers.ssh_watch import SshWatch
from nomadctl.workspace import Workspace


@dataclass(frozen=True)
class SshAgents:
    ssh: SshOptions

    def configure(
        self,
        ws: Workspace,
        hosts: Sequence[Host],
        node: fleet.NodeOptions,
        progress: Progress,
        on_servers_done: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        from nomadctl.node import fleet

        return fleet.configure(ws, hosts, node, self.ssh, progress, on_servers_done)

    def teardown(
        self, ws: Workspace, hosts: Sequence[Host], progress: Progress, leave: bool = False
    ) -> list[str]:
        report = teardown_hosts(ws, progress, parallel=self.ssh.parallel, hosts=hosts, leave=leave)
        return report.errors(force=False)

    def outage(self, ws: Workspace) -> SshOutage:
        """`nomadctl recover`'s steps over SSH (providers/ssh_outage.py)."""
        return SshOutage(ws)

    def watch(self, ws: Workspace, hosts: Sequence[Host]) -> SshWatch:
        """For `up`'s checks and leader wait: the server agents found dead over SSH
        (providers/ssh_watch.py); `close()` it when the cluster has formed."""
        return SshWatch(ws, [h for h in hosts if h.role == "server"], self.ssh)

    def describe(self) -> str:
        via = f" through {self.ssh.bastion}" if self.ssh.bastion else ""
        key = self.ssh.key_path or "the workspace's own key"
        return f"SSH as {self.ssh.user} to their {self.ssh.address} addresses{via}, key {key}"


@dataclass
class TeardownReport:
    """What `down` did on hosts the user keeps."""

    cleaned: list[Host] = field(default_factory=list)
    unreachable: list[tuple[Host, str]] = field(default_factory=list)  # did not answer SSH
    failed: list[tuple[Host, str]] = field(default_factory=list)  # answered, cleaning failed

    def errors(self, force: bool) -> list[str]:
        """One line per host left undone (unreachable ones too, unless `force`)."""
        left = self.failed if force else [*self.unreachable, *self.failed]
        return [f"{host.name}: {why}" for host, why in left]


def teardown_hosts(
    ws: Workspace,
    progress: Progress,
    parallel: int = 32,
    *,
    wait: float | None = None,
    hosts: Sequence[Host] | None = None,
    leave: bool = False,
) -> TeardownReport:
    """Stop and remove Nomad from hosts the user keeps (static clusters); `hosts`: only
    those (a scale-in), else every recorded host; `leave`: servers leave gracefully first.

    Each host gets `wait` seconds (default: one SSH connect timeout) to answer; one that does
    not is reported as unreachable, not failed, so `down --force` can skip it."""
    from concurrent.futures import ThreadPoolExecutor

    from nomadctl.node.ssh import SshUnreachable

    state = ws.load_state()
    ssh = ssh_options_from_state(state, parallel=parallel)
    if wait is not None:
        ssh = replace(ssh, wait=wait, connect_timeout=max(1.0, min(ssh.connect_timeout, wait)))
    method = (state.get("install") or {}).get("method", "apt")
    script = teardown_script(render.ClusterFacts(install_method=method), leave=leave)
    report = TeardownReport()

    def one(host: Host) -> None:
        try:
            with session_for(ws, host, ssh) as session:
                session.connect(
                    wait=ssh.connect_timeout if wait is None else wait,
                    progress=lambda m: progress(f"{host.name}: {m}"),
                )
                result = session.sudo(script)
        except SshUnreachable as exc:
            report.unreachable.append((host, exc.message))
            progress(f"{host.name}: did not answer")
            return
        except RemoteError as exc:
            report.failed.append((host, exc.message))
            return
        if result.code != 0:
            report.failed.append((host, result.tail()))
            return
        report.cleaned.append(host)
        progress(f"{host.name}: Nomad stopped and removed")

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(one, hosts_of(state) if hosts is None else hosts))
    return report
