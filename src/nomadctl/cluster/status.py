"""Cluster health as `nomad server members` shows it, plus the client nodes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nomadctl.cluster.api import Api, member_rows
from nomadctl.cluster.target import resolve_target
from nomadctl.errors import ClusterApiError, WorkspaceError
from nomadctl.hosts import hosts_of
from nomadctl.pki import expiry
from nomadctl.workspace import Workspace


@dataclass
class StatusReport:
    members: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def expected_servers(ws: Workspace) -> int | None:
    if not ws.state_path.exists():
        return None
    return sum(1 for h in hosts_of(ws.load_state()) if h.role == "server") or None


def snapshot(api: Api, expected: int | None) -> StatusReport:
    """Members and leaders as `nomad server members` finds them (command/server_members.go
    regionLeaders): servers that have `left` are listed but judged no further, and a region
    whose servers have all left is not asked for a leader."""
    members = api.members().get("Members") or []
    current = [m for m in members if m.get("Status") != "left"]
    regions = sorted({(m.get("Tags") or {}).get("region", "") for m in current})
    leaders = {region: api.leader(region) for region in regions}
    report = StatusReport(member_rows(members, leaders), api.nodes())
    for region in regions:
        if not leaders[region]:
            report.problems.append(f"no leader in region {region}")
    for m in report.members:
        if m.get("Status") not in ("alive", "left"):
            report.problems.append(f"server {m.get('Name')} is {m.get('Status')}")
    alive = sum(1 for m in report.members if m.get("Status") == "alive")
    if expected is not None and alive < expected:
        report.problems.append(f"{alive} of {expected} expected servers are alive")
    return report


def certificates(ws: Workspace) -> list[expiry.Expiry]:
    """The workspace's CA, cli and node certificates, soonest to expire first; node
    certificates only of the nodes the state still lists (a removed node's file may linger)."""
    found = expiry.collect(ws.certs_dir)
    if not ws.state_path.exists():
        return found
    try:
        names = {h.name for h in hosts_of(ws.load_state())}
    except WorkspaceError:  # `status` itself reports a damaged state
        return found
    return [e for e in found if e.kind != "node" or e.name in names]


def collect(ws: Workspace, wait: float = 0.0, timeout: float = 5.0) -> StatusReport:
    """One snapshot, or poll with backoff for up to `wait` seconds until healthy."""
    from dataclasses import replace

    target = replace(resolve_target(ws), timeout=timeout)
    api = Api(target)
    expected = expected_servers(ws) if target.source == "workspace" else None
    deadline = time.monotonic() + wait
    delay = 0.5
    while True:
        try:
            report = snapshot(api, expected)
        except ClusterApiError:
            if time.monotonic() + delay > deadline:
                raise
            report = None
        if report is not None and (report.healthy or time.monotonic() + delay > deadline):
            if not report.healthy and wait:
                report.problems.append(f"still not healthy after waiting {wait:.0f}s")
            return report
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)
