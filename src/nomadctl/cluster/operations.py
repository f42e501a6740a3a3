"""Day-2 operations on a running cluster, over `nomadctl.cluster.api.Api` (python-nomad underneath).

Each call is one Nomad API request, each wait a bounded poll with backoff, a progress callback
and a one-line error. The API shapes are Nomad's (checked against hashicorp/nomad at commit
aa026cc99cfb74a77e519a1c1f0c78ba1b452705):

- drain: ``POST /v1/node/:id/drain`` with ``DrainSpec{Deadline (ns), IgnoreSystemJobs}``,
  ``MarkEligible`` and ``Meta`` (node:write). The node turns ineligible at once; the drain is
  over when ``DrainStrategy`` is null again (allocations migrated, or stopped at the
  deadline); ``LastDrain.Status`` then says ``complete`` (or ``canceled`` if someone removed
  the drain);
- eligibility: ``POST /v1/node/:id/eligibility`` ``{"Eligibility": "eligible|ineligible"}``;
- autopilot: ``GET /v1/operator/autopilot/health`` (operator:read) answers 429 with the same
  body when any server is unhealthy; the leader refreshes it every ServerHealthInterval (2s),
  so a fresh restart can still look healthy for up to 2s: `wait_healthy` wants it healthy for
  `settle` seconds in a row;
- raft: ``DELETE /v1/operator/raft/peer?id=`` (management token). python-nomad's
  ``operator.delete_peer`` sends ``?address=``, which Nomad refuses since raft protocol 3;
- leave: a server stopped with SIGTERM/SIGINT and leave_on_terminate/leave_on_interrupt leaves
  serf and raft by itself (nomad/server.go Leave). One that died (host gone, agent killed)
  stays ``failed`` in serf and a raft voter: ``PUT /v1/agent/force-leave?node=NAME&prune=true``
  (agent:write) turns it ``left`` and, with prune, forgets it at once, and the leader drops it
  from raft. Without prune a force-left member stays listed as ``left`` until serf reaps it
  (24h), which is why ``nomad server force-leave -prune`` is the step for a server that will
  not come back;
- TLS reload: SIGHUP (``systemctl reload nomad`` runs the unit's ``ExecReload=/bin/kill -HUP
  $MAINPID``) re-reads the CA, certificate and key when their contents changed, without a
  restart (command/agent/command.go handleReload).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from nomadctl.cluster.api import Api, NoLeader, PermissionDenied
from nomadctl.errors import Cancelled, ClusterApiError, RemoteError, UsageError
from nomadctl.validate import fits

Progress = Callable[[str], None]


class OperationFailed(ClusterApiError):
    """The cluster answered, and the answer means waiting longer will not help."""


POLL_FIRST = 0.2  # seconds between polls at first, x1.5 each time, at most POLL_MAX
POLL_MAX = 2.0
PROGRESS_EVERY = 10.0  # seconds between two identical progress lines
NODE_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
UNIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$")


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not fits(pattern, value):
        raise UsageError(f"invalid {what} {value!r}")
    return value


def poll(
    check: Callable[[], tuple[Any, str]],
    timeout: float,
    what: str,
    progress: Progress | None,
    cancel: threading.Event | None,
    *,
    first: float = POLL_FIRST,
    most: float = POLL_MAX,
) -> Any:
    """Call `check` until it returns a value that is not None; (value, status line). The
    gap between two calls starts at `first` and grows by half up to `most`."""
    cancel = cancel or threading.Event()
    deadline = time.monotonic() + timeout
    delay, shown, shown_at, last = first, "", 0.0, "no answer yet"
    while True:
        try:
            value, last = check()
            if value is not None:
                return value
        except (PermissionDenied, UsageError, OperationFailed):
            raise
        except (NoLeader, ClusterApiError) as exc:
            last = exc.message
        now = time.monotonic()
        if progress and (last != shown or now - shown_at >= PROGRESS_EVERY):
            progress(f"{what}: {last}")
            shown, shown_at = last, now
        if now + delay > deadline:
            raise ClusterApiError(f"{what}: not done after {timeout:.0f}s ({last})")
        if cancel.wait(delay):
            raise Cancelled(f"stopped {what}")
        delay = min(delay * 1.5, most)


# ---- nodes: drain and eligibility ---------------------------------------------------------


def node(api: Api, node_id: str) -> dict[str, Any]:
    _check(node_id, NODE_ID_RE, "node ID")
    return api.call(lambda c: c.node.get_node(node_id), f"reading node {node_id[:8]}")


def set_eligibility(api: Api, node_id: str, eligible: bool) -> int:
    """Mark a node (in)eligible for new allocations; returns the raft index (0: no change)."""
    _check(node_id, NODE_ID_RE, "node ID")
    body = {"Eligibility": "eligible" if eligible else "ineligible"}
    what = f"marking node {node_id[:8]} {body['Eligibility']}"
    reply = api.call(
        lambda c: c.node.request(node_id, "eligibility", json=body, method="post").json(), what
    )
    return int(reply.get("Index") or 0)


def purge_node(api: Api, node_id: str) -> int:
    """Remove a node for good from Nomad's node list (`nomad node purge`); the index."""
    _check(node_id, NODE_ID_RE, "node ID")
    reply = api.call(lambda c: c.node.purge_node(node_id), f"purging node {node_id[:8]}")
    return int((reply or {}).get("NodeModifyIndex") or 0)


def start_drain(
    api: Api,
    node_id: str,
    deadline: float,
    *,
    ignore_system_jobs: bool = False,
    meta: Mapping[str, str] | None = None,
) -> int:
    """Start draining a node: ineligible at once, allocations migrate, the rest stop at
    `deadline` seconds (0: no deadline; below 0: stop everything now). Returns the index."""
    _check(node_id, NODE_ID_RE, "node ID")
    body: dict[str, Any] = {
        "DrainSpec": {"Deadline": int(deadline * 1e9), "IgnoreSystemJobs": ignore_system_jobs},
        "MarkEligible": False,
        "Meta": dict(meta) if meta else None,
    }
    reply = api.call(
        lambda c: c.node.request(node_id, "drain", json=body, method="post").json(),
        f"draining node {node_id[:8]}",
    )
    return int(reply.get("NodeModifyIndex") or reply.get("Index") or 0)


def stop_drain(api: Api, node_id: str, mark_eligible: bool) -> int:
    """Cancel a drain (LastDrain.Status becomes canceled); optionally make the node eligible."""
    _check(node_id, NODE_ID_RE, "node ID")
    body = {"DrainSpec": None, "MarkEligible": mark_eligible}
    reply = api.call(
        lambda c: c.node.request(node_id, "drain", json=body, method="post").json(),
        f"stopping the drain of node {node_id[:8]}",
    )
    return int(reply.get("NodeModifyIndex") or reply.get("Index") or 0)


def _running_allocs(api: Api, node_id: str) -> int | None:
    try:
        allocs = api.call(lambda c: c.node.get_allocations(node_id), "listing allocations")
    except ClusterApiError:
        return None  # e.g. a token without read-job: the count is only for progress
    return sum(1 for a in allocs if a.get("DesiredStatus") == "run")


def wait_drained(
    api: Api,
    node_id: str,
    timeout: float,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Wait until the node's drain is over; returns the node. A drain someone canceled, or a
    node that is eligible again, is an error: the node was not emptied."""
    _check(node_id, NODE_ID_RE, "node ID")

    def check() -> tuple[Any, str]:
        n = node(api, node_id)
        name = n.get("Name") or node_id[:8]
        if n.get("DrainStrategy") is None:
            status = (n.get("LastDrain") or {}).get("Status")
            if status != "complete":
                raise OperationFailed(f"drain of {name} ended as {status or 'not started'}")
            return n, "done"
        left = _running_allocs(api, node_id)
        force = _parse_time((n["DrainStrategy"] or {}).get("ForceDeadline"))
        line = f"{name}: " + (f"{left} allocation(s) left" if left is not None else "draining")
        if force is not None:
            line += f", deadline in {max(force - time.time(), 0):.0f}s"
        return None, line

    # Nomad's drainer unmarks a node with nothing on it as soon as its node watcher sees the
    # drain (nomad/drainer/watch_nodes.go; watch_nodes_test.go TestNodeDrainWatcher_Update_
    # IsDone: "immediately"), as for most of a roll's clients: look after 0.05 s, then less
    # and less often.
    what = f"draining node {node_id[:8]}"
    return poll(check, timeout, what, progress, cancel, first=0.05)


def drain(
    api: Api,
    node_id: str,
    deadline: float,
    *,
    timeout: float | None = None,
    ignore_system_jobs: bool = False,
    meta: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Drain a node and wait for the drain to end (at the latest `deadline` + 60s, as Nomad
    batches deadlined nodes and stopping allocations takes their kill timeout)."""
    if deadline == 0 and timeout is None:
        raise UsageError("a drain without a deadline needs an explicit timeout")
    start_drain(api, node_id, deadline, ignore_system_jobs=ignore_system_jobs, meta=meta)
    limit = timeout if timeout is not None else max(deadline, 0.0) + 60.0
    return wait_drained(api, node_id, limit, progress, cancel)


FRACTION_RE = re.compile(r"(\.\d+)(?=Z|[+-]\d\d:\d\d$|$)")


def parse_time(text: str | None) -> float | None:
    """A Go RFC 3339 time (`time.Time` as JSON: up to nanoseconds, `Z` or an offset) as a
    POSIX timestamp; None for Go's zero time or anything unreadable. Python's
    `datetime.fromisoformat` takes at most microseconds: the fraction is cut to six digits
    (never rounded up into the next second), the offset is kept."""
    if not text or not isinstance(text, str) or text.startswith("0001-"):
        return None
    text = FRACTION_RE.sub(lambda m: m.group(1)[:7], text.strip(), count=1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:  # Go always writes a zone; a bare time is not Nomad's
        return None
    return when.timestamp()


_parse_time = parse_time  # the name the drain code and older tests use


# ---- servers: autopilot health, raft, leave ------------------------------------------------


@dataclass(frozen=True)
class Health:
    healthy: bool
    failure_tolerance: int
    leader: str  # server ID
    servers: list[dict[str, Any]]

    def unhealthy(self) -> list[str]:
        return [str(s.get("Name") or s.get("ID")) for s in self.servers if not s.get("Healthy")]


def autopilot_health(api: Api) -> Health:
    """`/v1/operator/autopilot/health`, which answers 429 (same body) when unhealthy."""

    def get(c: Any) -> dict[str, Any]:
        import nomad.api.exceptions as nx

        try:
            return c.operator.request("autopilot", "health", method="get").json()
        except nx.BaseNomadException as exc:
            resp = exc.nomad_resp
            if getattr(resp, "status_code", None) == 429:
                return resp.json()
            raise

    body = api.call(get, "reading autopilot health")
    return Health(
        healthy=bool(body.get("Healthy")),
        failure_tolerance=int(body.get("FailureTolerance") or 0),
        leader=str(body.get("Leader") or ""),
        servers=list(body.get("Servers") or []),
    )


def wait_healthy(
    api: Api,
    timeout: float,
    *,
    voters: int | None = None,
    settle: float = 2.0,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Health:
    """Wait until autopilot reports every server healthy (and `voters` voters, if given)
    for `settle` seconds in a row; Nomad refreshes the report every 2s. A new server joins
    as a non-voter and is promoted after autopilot's server_stabilization_time (10s)."""
    since: list[float] = []

    def check() -> tuple[Any, str]:
        h = autopilot_health(api)
        count = sum(1 for s in h.servers if s.get("Voter"))
        if not h.healthy or (voters is not None and count != voters):
            since.clear()
            bad = ", ".join(h.unhealthy()) or "none"
            return None, f"{count} voter(s) of {len(h.servers)} server(s), unhealthy: {bad}"
        since[:] = since or [time.monotonic()]
        if time.monotonic() - since[0] < settle:
            return None, f"{count} voter(s) healthy, settling"
        return h, "healthy"

    return poll(check, timeout, "waiting for healthy servers", progress, cancel)


def raft_servers(api: Api) -> list[dict[str, Any]]:
    reply = api.call(lambda c: c.operator.get_configuration(), "reading the raft configuration")
    return list(reply.get("Servers") or [])


def remove_raft_peer(api: Api, server_id: str) -> None:
    """Remove a voter by raft ID (management token). A server still alive in serf is added
    back by the leader: stop it (or force-leave it) first."""
    _check(server_id, NODE_ID_RE, "raft server ID")
    api.call(
        lambda c: c.operator.request("raft", "peer", params={"id": server_id}, method="delete"),
        f"removing raft peer {server_id[:8]}",
    )


def force_leave(api: Api, member: str, prune: bool = False) -> None:
    """Turn a failed serf member `left` (with prune: forget it and drop it from raft)."""
    _check(member, NAME_RE, "server member name")
    params = {"node": member, **({"prune": "true"} if prune else {})}
    api.call(
        lambda c: c.agent.request("force-leave", params=params, method="put"),
        f"force-leave of {member}",
    )


def members(api: Api) -> dict[str, str]:
    """Serf member name -> status (alive, failed, left)."""
    return {m["Name"]: m["Status"] for m in api.members().get("Members") or []}


def ensure_server_gone(
    api: Api,
    member: str,
    timeout: float,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[str]:
    """After a server's agent was stopped: make sure it left serf and raft, forcing it out
    (force-leave with prune, then raft peer removal) when it died instead of leaving.
    Returns the steps that were needed; none when the leave was graceful."""
    _check(member, NAME_RE, "server member name")
    steps: list[str] = []

    def check() -> tuple[Any, str]:
        status = members(api).get(member)
        voter = next((s for s in raft_servers(api) if s.get("Node") == member), None)
        if status == "alive":
            return None, "still alive in serf (is its agent stopped?)"
        if status == "failed" and "force-leave" not in steps:
            force_leave(api, member, prune=True)
            steps.append("force-leave")
            return None, "failed in serf: forced out"
        if voter is None:
            return steps, "gone"
        if status != "failed" and "remove-peer" not in steps:
            # Left (or forgotten by serf) but still in raft: the leader had not removed it
            # (Nomad's leave gives up after 5s). A race with the leader's own removal only
            # costs a "not found" answer and another poll.
            remove_raft_peer(api, str(voter["ID"]))
            steps.append("remove-peer")
        return None, f"still in the raft configuration ({status or 'not in serf'})"

    return poll(check, timeout, f"removing server {member}", progress, cancel)


# ---- TLS reload -----------------------------------------------------------------------------


class CommandResult(Protocol):
    code: int
    stdout: str
    stderr: str


Runner = Callable[[str], CommandResult]  # a shell command on the node (SSH session or local)


def _run(run: Runner, command: str, what: str) -> str:
    result = run(command)
    if result.code != 0:
        text = result.stderr.strip() or result.stdout.strip() or f"exit {result.code}"
        raise RemoteError(f"{what}: {text.splitlines()[-1][:200]}")
    return result.stdout.strip()


def reload_agent(run: Runner, *, unit: str | None = None, pid: int | None = None) -> int:
    """Send SIGHUP to a Nomad agent so it reloads its TLS files; returns the agent's PID,
    which must not change (a reload, not a restart). `unit`: a systemd unit on the node
    (``systemctl reload``, ExecReload sends the signal); `pid`: a process run without
    systemd (the local provider)."""
    if (unit is None) == (pid is None):
        raise UsageError("reload_agent needs exactly one of unit or pid")
    if pid is not None:
        if not isinstance(pid, int) or isinstance(pid, bool) or pid < 2:
            raise UsageError(f"invalid agent pid {pid!r}")
        _run(run, f"kill -0 {pid} && kill -HUP {pid}", f"reloading the agent (pid {pid})")
        return pid
    _check(unit or "", UNIT_RE, "systemd unit")
    show = f"systemctl show --property=MainPID --value {unit}"
    before = _run(run, show, f"reading the PID of {unit}")
    if not before.isdigit() or int(before) < 2:
        raise RemoteError(f"reloading {unit}: the agent is not running (MainPID={before or '?'})")
    _run(run, f"systemctl reload {unit}", f"reloading {unit}")
    after = _run(run, show, f"reading the PID of {unit}")
    if after != before:
        raise RemoteError(f"reloading {unit}: the agent restarted (PID {before} -> {after})")
    return int(before)
