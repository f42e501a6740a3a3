"""Scale in: the nodes `up` was told to drop leave the cluster safely, one kind at a time.

Clients first: each is drained through Nomad's API (its allocations move elsewhere within
`--drain-deadline`), its agent stopped, then the provider removes the machine (terminates the
instance, cleans the host you keep, deletes the local agent). Servers next, one at a time,
the leader last: a graceful leave (SIGTERM with leave_on_terminate: the server is out of raft
before it exits, nomad/server.go Leave), the machine removed, force-leave and raft peer
removal only if it died instead of leaving, and autopilot must report the cluster healthy
before the next one goes; before each one, quorum is measured (`cluster.quorum`: every other
server answering on its own address and naming the same leader; a failure tolerance of 1,
except that two voters may become one by a graceful leave when both answer and agree on the
leader). Because each server leaves raft while it still answers, every configuration change
is committed by a live majority: 3 servers can go to 1. The last step, two voters to one, is
the one a failed leave turns into a lost quorum (`quorum.check` says why, from raft's
source), so it also needs the automatic snapshot first (`check`: not with --no-snapshot).
Never to an even count or to none (`order.check_server_count`).

Until a node is gone it stays in state.json under "leaving", so an interrupted scale-in is
finished by the next `up`, and nothing is forgotten while it still runs (or bills).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nomadctl.cluster import operations, quorum
from nomadctl.cluster.api import Api, PermissionDenied
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import ClusterApiError, NomadctlError, RemoteError, UsageError
from nomadctl.hosts import Host, hosts_of
from nomadctl.node import order
from nomadctl.node.marks import Marks
from nomadctl.plan.core import Progress
from nomadctl.workspace import Workspace

HEALTHY_WAIT = 120.0  # seconds autopilot gets to report healthy after a server left


def leaving(ws: Workspace) -> list[Host]:
    """Nodes a previous `up` started removing and did not finish."""
    if not ws.state_path.exists():
        return []
    return hosts_of({"hosts": ws.load_state().get("leaving") or []})


def surplus(ws: Workspace, recorded: Sequence[Host], wanted: Sequence[str]) -> list[Host]:
    """Recorded nodes (and unfinished leavers) the new plan does not name, newest first."""
    keep = set(wanted)
    seen: dict[str, Host] = {h.name: h for h in [*leaving(ws), *recorded] if h.name not in keep}
    return sorted(seen.values(), key=lambda h: (h.role != "client", _index(h.name)), reverse=False)


def _index(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return -int(tail) if tail.isdigit() else 0


def check(recorded: Sequence[Host], going: Sequence[Host], snapshot: bool = True) -> None:
    """Refuse a scale-in that would leave an even number of servers, or none; and one that
    ends with two voters becoming one (`to_one`) without the snapshot before it."""
    servers = {h.name for h in recorded if h.role == "server"}
    gone = {h.name for h in going if h.role == "server"}
    if gone:
        order.check_server_count(len(servers - gone))
    if to_one(recorded, going) and not snapshot:
        raise UsageError(
            f"scaling in from {len(servers)} servers to 1 ends with two voters becoming one, "
            "which loses the quorum if that leave fails: it needs the snapshot taken before "
            "it; run it without --no-snapshot (or keep 3 servers)"
        )


def to_one(recorded: Sequence[Host], going: Sequence[Host]) -> bool:
    """Does this scale-in take the servers from two or more to one (its last leave is from
    two voters to one)?"""
    servers = {h.name for h in recorded if h.role == "server"}
    gone = {h.name for h in going if h.role == "server"}
    return bool(gone) and len(servers) >= 2 and len(servers - gone) == 1


TO_ONE_NOTE = (
    "; the last leave, two servers to one, only when both answer and name the same leader, "
    "after a snapshot (a failed leave there loses quorum: `nomadctl recover` rebuilds it)"
)


def remember(ws: Workspace, going: Sequence[Host]) -> None:
    ws.update_state(leaving=[h.to_dict() for h in going])


def _forget(ws: Workspace, host: Host) -> None:
    state = ws.load_state()
    state["leaving"] = [h for h in state.get("leaving") or [] if h.get("name") != host.name]
    ws.save_state(state)


def node_id(api: Api, name: str) -> str | None:
    for node in api.nodes():
        if node.get("Name") == name and node.get("Status") != "down":
            return str(node["ID"])
    return None


def run(
    ws: Workspace,
    provider: Any,
    going: Sequence[Host],
    *,
    drain_deadline: float,
    progress: Progress,
) -> str:
    """Remove `going` from the cluster and from the provider; raise on the first failure
    (what is left stays under "leaving" for the next `up`)."""
    if not going:
        return "nothing to remove"
    api = Api(workspace_target(ws))
    agents = provider.agents(ws)
    marks = Marks(ws)
    for host in [h for h in going if h.role == "client"]:
        found = drain(api, host, drain_deadline, progress, marks)
        _stop_and_remove(ws, provider, agents, host, progress)
        if found is not None:  # gone for good: `status` lists only the cluster's members
            marks.drop(found)
            purge(api, host, found, progress)
    gone: set[str] = set()
    for host in followers_first(api, [h for h in going if h.role == "server"]):
        # Measured before it goes: two voters may become one by a graceful leave when both
        # answer and agree on the leader (quorum.check says why), never one dead voter.
        others = [s for s in quorum.workspace_servers(ws) if s.name not in gone]
        quorum.wait_safe(api, others, HEALTHY_WAIT, going=host.name, leave=True, progress=progress)
        _stop_and_remove(ws, provider, agents, host, progress, keep_record=True, leave=True)
        gone.add(host.name)
        forced = operations.ensure_server_gone(api, member(host, ws), HEALTHY_WAIT, progress)
        progress(
            f"{host.name}: "
            + (f"forced out ({', '.join(forced)})" if forced else "left raft and serf gracefully")
        )
        operations.wait_healthy(api, HEALTHY_WAIT, progress=progress)
        _forget(ws, host)
    return f"removed {', '.join(h.name for h in going)}"


def drain(
    api: Api, host: Host, deadline: float, progress: Progress, marks: Marks | None = None
) -> str | None:
    """Drain a client through Nomad's API before its agent stops (none if never registered);
    its node ID. `marks`: recorded first, so that a run killed before the node is gone, and a
    re-run that keeps it after all, makes it eligible again (`node.marks`)."""
    found = node_id(api, host.name)
    if found is not None:
        if marks is not None:
            marks.add(found, host.name)
        progress(f"{host.name}: draining (deadline {deadline:.0f}s)")
        operations.drain(api, found, deadline, progress=progress)
        progress(f"{host.name}: drained")
    return found


def purge(api: Api, host: Host, found: str, progress: Progress) -> None:
    """`nomad node purge` of a removed client; a failure only leaves it listed as down."""
    try:
        operations.purge_node(api, found)
    except ClusterApiError as exc:
        progress(f"{host.name}: still in Nomad's node list ({exc.message})")
        return
    progress(f"{host.name}: purged from Nomad's node list")


def followers_first(api: Api, servers: list[Host]) -> list[Host]:
    """The same order with the leader moved last (a new election costs a few seconds), as
    `order.server_restart_order` decides for a roll. The leader is known by its server ID
    (autopilot), not by an address that local agents may share."""
    try:
        leader: str | None = quorum.leader_of(api, [h.name for h in servers])[1] or None
    except PermissionDenied:  # a token without operator:read: by the one matching address
        leader_ip = api.leader().rsplit(":", 1)[0]
        named = [h.name for h in servers if h.private_ip == leader_ip]
        leader = named[0] if len(named) == 1 else None
    by_name = {h.name: h for h in servers}
    return [by_name[n] for n in order.server_restart_order(list(by_name), leader)]


def member(host: Host, ws: Workspace) -> str:
    """The server's serf member name: `<name>.<region>`."""
    region = (ws.load_state().get("nomad") or {}).get("region", "global")
    return f"{host.name}.{region}"


def stop_agent(ws: Workspace, agents: Any, host: Host, progress: Progress, leave: bool) -> None:
    """Stop the node's agent and remove nomadctl's files (`leave`: a server leaves first);
    RemoteError with the first problem."""
    try:
        errors = agents.teardown(ws, [host], progress, leave=leave)
    except NomadctlError as exc:
        errors = [exc.message]
    if errors:
        raise RemoteError(errors[0])


def _stop_and_remove(
    ws: Workspace,
    provider: Any,
    agents: Any,
    host: Host,
    progress: Progress,
    keep_record: bool = False,
    leave: bool = False,
) -> None:
    try:
        stop_agent(ws, agents, host, progress, leave)
    except RemoteError as exc:
        raise RemoteError(
            f"scale-in stopped at {host.name}: {exc.message}; re-run `nomadctl up` to carry on"
        ) from None
    provider.remove(ws, [host], progress)
    progress(f"{host.name}: removed")
    if not keep_record:
        _forget(ws, host)
