"""Cluster health as `nomad server members` shows it, plus the client nodes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from nomadctl.cluster.api import Api, ApiTarget, NoLeader, PermissionDenied, member_rows
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
    leaderless: bool = False  # some region has no leader
    silent: list[str] = field(default_factory=list)  # servers whose own API does not answer
    expected: int | None = None  # servers the workspace records

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def majority_down(self) -> bool:
        """Fewer servers answer than a quorum of the recorded ones needs."""
        if self.expected is None:
            return False
        return self.expected - len(self.silent) < self.expected // 2 + 1


def expected_servers(ws: Workspace) -> int | None:
    if not ws.state_path.exists():
        return None
    return sum(1 for h in hosts_of(ws.load_state()) if h.role == "server") or None


def snapshot(api: Api, expected: int | None) -> StatusReport:
    """Members and leaders as `nomad server members` finds them (command/server_members.go
    regionLeaders): servers that have `left` are listed but judged no further, and a region
    whose servers have all left is not asked for a leader.

    Without a leader the members are still shown: /v1/agent/members is answered by any
    server from its own serf view (command/agent/agent_endpoint.go AgentMembersRequest does
    not go through the leader), while /v1/nodes needs one; its failure is a problem of the
    report, not the end of it."""
    members = api.members().get("Members") or []
    current = [m for m in members if m.get("Status") != "left"]
    regions = sorted({(m.get("Tags") or {}).get("region", "") for m in current})
    leaders = {region: _leader(api, region) for region in regions}
    report = StatusReport(member_rows(members, leaders), expected=expected)
    for region in regions:
        if not leaders[region]:
            report.leaderless = True
            report.problems.append(f"no leader in region {region}")
    for m in report.members:
        if m.get("Status") not in ("alive", "left"):
            report.problems.append(f"server {m.get('Name')} is {m.get('Status')}")
        if m.get("Status") != "alive" and m["Tags"].get("Leader") == "true":
            report.leaderless = True  # followers still name it until they elect another
            report.problems.append(
                f"the leader {m.get('Name')} is {m.get('Status')}: an election is due"
            )
    try:
        report.nodes = api.nodes()
    except PermissionDenied:
        raise
    except ClusterApiError as exc:
        if not report.leaderless:  # without a leader, "no leader" says it already
            report.problems.append(exc.message)
    alive = sum(1 for m in report.members if m.get("Status") == "alive")
    if expected is not None and alive < expected:
        report.problems.append(f"{alive} of {expected} expected servers are alive")
    return report


def _leader(api: Api, region: str) -> str:
    try:
        return api.leader(region)
    except NoLeader:
        return ""


def silent_servers(ws: Workspace, target: ApiTarget) -> list[str]:
    """The recorded servers whose own HTTP API does not answer (each asked on its own
    address, side by side), by name."""
    servers = [h.name for h in hosts_of(ws.load_state()) if h.role == "server"]
    if len(servers) != len(target.addresses):
        return []

    def answers(address: str) -> bool:
        try:
            Api(replace(target, addresses=[address])).leader()
        except NoLeader:
            return True
        except ClusterApiError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:
        ok = list(pool.map(answers, target.addresses))
    return [name for name, up in zip(servers, ok, strict=True) if not up]


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
    """One snapshot, or poll with backoff for up to `wait` seconds until healthy. An
    unhealthy report of the workspace's own cluster names the servers that do not answer."""
    target = replace(resolve_target(ws), timeout=timeout)
    api = Api(target)
    own = target.source == "workspace"
    expected = expected_servers(ws) if own else None
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
            if not report.healthy and own:
                report.silent = silent_servers(ws, target)
                for name in report.silent:
                    report.problems.append(f"server {name} does not answer on its own address")
            return report
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)
