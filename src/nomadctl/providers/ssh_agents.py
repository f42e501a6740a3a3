"""Agents reached over SSH: the hosts of the AWS provider and hosts you already have.

Configuration and teardown go through `nomadctl.nodes` (one SSH connection per host, hosts
in parallel); this adapter only carries the SSH options so the plan never needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nomadctl import nodes
from nomadctl.hosts import Host
from nomadctl.providers.base import Progress
from nomadctl.workspace import Workspace


@dataclass(frozen=True)
class SshAgents:
    ssh: nodes.SshOptions

    def configure(
        self,
        ws: Workspace,
        hosts: Sequence[Host],
        node: nodes.NodeOptions,
        progress: Progress,
        on_servers_done: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        from nomadctl import lifecycle

        return lifecycle.configure(ws, hosts, node, self.ssh, progress, on_servers_done)

    def teardown(self, ws: Workspace, hosts: Sequence[Host], progress: Progress) -> list[str]:
        from nomadctl import lifecycle

        report = lifecycle.teardown_hosts(ws, progress, parallel=self.ssh.parallel, hosts=hosts)
        return report.errors(force=False)

    def describe(self) -> str:
        via = f" through {self.ssh.bastion}" if self.ssh.bastion else ""
        key = self.ssh.key_path or "the workspace's own key"
        return f"SSH as {self.ssh.user} to their {self.ssh.address} addresses{via}, key {key}"
