"""Allocations and the node drainer, as far as a drain needs them (the stand-in runs nothing).

Modelled on Nomad at commit aa026cc99cfb74a77e519a1c1f0c78ba1b452705:
- nomad/state/state_store.go updateNodeDrainImpl: a drain strategy makes the node ineligible;
  removing it makes the node eligible only with MarkEligible; LastDrain is created when a
  drain starts (second precision times), its Status is draining / complete / canceled;
- nomad/node_endpoint.go UpdateDrain: StartedAt kept from a running drain, ForceDeadline =
  now + Deadline when Deadline > 0 (0 = no deadline, < 0 = force: stop everything now);
- nomad/drainer/watch_jobs.go handleTaskGroup: service allocations migrate at most
  `migrate.max_parallel` at a time: numToDrain = healthy - (count - max_parallel), where
  healthy counts running allocations with a deployment health that are not already migrating;
  batch allocations are never migrated, they run until they finish or the deadline;
- nomad/drainer/draining_node.go IsDone / RemainingAllocs: a node is done when no service or
  batch allocation is left running on it; system allocations are stopped last, unless
  IgnoreSystemJobs; at the deadline every remaining allocation is stopped (drainer.go
  handleDeadlinedNodes) and the drain completes; deadlines within 5s of the earliest are
  handled together at the latest of them (drain_heap.go, NodeDeadlineCoalesceWindow).

Allocations on a node that is down are lost (ClientStatus lost) and replaced, which also
ends a drain of that node. The scheduler is a sketch: every job group gets `Count`
allocations on eligible, ready nodes of its datacenters and node pool (fewest allocations
first); system jobs get one per such node. A replacement counts as healthy
`migrate.min_healthy_time` after it was placed (default 10s, as Nomad's
structs.DefaultMigrateStrategy). Placement blocks (stays short) when no node fits.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from .state import ClusterState

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time in JSON
DEFAULT_MAX_PARALLEL = 1
DEFAULT_MIN_HEALTHY_NS = 10_000_000_000
COALESCE = 5.0  # drainer.go NodeDeadlineCoalesceWindow

Op = tuple[str, ...]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")
_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def rfc3339(t: float, precise: bool = True) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if precise else "%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str | None) -> float | None:
    if not s or s.startswith("0001-"):
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def duration_ns(v: Any, default: int) -> int:
    if v is None:
        return default
    if isinstance(v, int | float):
        return int(v)
    m = _DURATION.match(str(v))  # Go duration strings such as "10s" (in config files)
    return int(float(m[1]) * _UNITS[m[2]]) if m else default


# ------------------------------------------------------------------------- drain updates


def update_node_drain(
    node: dict[str, Any],
    idx: int,
    strategy: dict[str, Any] | None,
    mark_eligible: bool,
    meta: dict[str, str] | None,
    accessor: str,
    completed: bool,
    now: float,
) -> None:
    """state_store.go updateNodeDrainImpl."""
    old = node.get("DrainStrategy")
    node["StatusUpdatedAt"] = int(now)
    node["DrainStrategy"] = strategy
    node["Drain"] = strategy is not None
    if strategy is not None:
        node["SchedulingEligibility"] = "ineligible"
    elif mark_eligible:
        node["SchedulingEligibility"] = "eligible"
    if old is not None or strategy is not None:
        updated = rfc3339(int(now), precise=False)
        last = node.get("LastDrain")
        if old is None:
            last = {"StartedAt": updated, "Meta": meta, "AccessorID": "", "Status": ""}
        elif last is None:
            started = int(parse_time(old.get("StartedAt")) or now)
            last = {"StartedAt": rfc3339(started, False), "Meta": meta, "AccessorID": ""}
        last["UpdatedAt"] = updated
        if meta:
            last["Meta"] = meta
        if accessor:
            last["AccessorID"] = accessor
        if strategy is not None:
            last["Status"] = "draining"
        else:
            last["Status"] = "complete" if completed else "canceled"
        node["LastDrain"] = last
    node["ModifyIndex"] = idx


def new_strategy(spec: dict[str, Any], old: dict[str, Any] | None, now: float) -> dict[str, Any]:
    """node_endpoint.go UpdateDrain: StartedAt and ForceDeadline."""
    deadline = int(spec.get("Deadline") or 0)
    return {
        "Deadline": deadline,
        "IgnoreSystemJobs": bool(spec.get("IgnoreSystemJobs", False)),
        "ForceDeadline": rfc3339(now + deadline / 1e9) if deadline > 0 else ZERO_TIME,
        "StartedAt": old["StartedAt"] if old else rfc3339(now),
    }


# ------------------------------------------------------------------ scheduler + drainer


def _groups(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in job.get("TaskGroups") or [] if isinstance(g, dict)]


def _fits(node: dict[str, Any], job: dict[str, Any]) -> bool:
    dcs = job.get("Datacenters") or ["*"]
    pool = job.get("NodePool") or "default"
    return (
        node.get("Status") == "ready"
        and node.get("SchedulingEligibility", "eligible") == "eligible"
        and node.get("DrainStrategy") is None
        and any(fnmatch.fnmatchcase(node.get("Datacenter", ""), d) for d in dcs)
        and pool in ("all", node.get("NodePool"))
    )


def _live(st: ClusterState) -> list[dict[str, Any]]:
    return [a for a in st.allocs.values() if a["DesiredStatus"] == "run"]


def plan(st: ClusterState, now: float) -> list[Op]:
    """What the scheduler and the drainer change now; [] when nothing."""
    ops: list[Op] = []
    live = []
    for a in _live(st):
        job = st.jobs.get(f"{a['Namespace']}/{a['JobID']}")
        if job is None or job.get("Stop"):
            ops.append(("stop", a["ID"], "alloc not needed due to job update"))
            continue
        if (st.nodes.get(a["NodeID"]) or {}).get("Status") == "down":
            ops.append(("lost", a["ID"], "alloc is lost since its node is down"))
            continue
        live.append(a)
        if a["JobType"] == "service" and a["DeploymentStatus"] is None:
            g = next((g for g in _groups(job) if g.get("Name") == a["TaskGroup"]), {})
            migrate = g.get("Migrate") or {}
            wait = duration_ns(migrate.get("MinHealthyTime"), DEFAULT_MIN_HEALTHY_NS)
            if now - a["CreateTime"] / 1e9 >= wait / 1e9:
                ops.append(("healthy", a["ID"]))
    load: dict[str, int] = {}
    for a in live:
        load[a["NodeID"]] = load.get(a["NodeID"], 0) + 1
    for key, job in st.jobs.items():
        if not job.get("Stop"):
            ops += _place(st, key, job, live, load)
    deadlined = _deadlined(st, now)
    for nid, node in st.nodes.items():
        if node.get("DrainStrategy") is not None:
            ops += _drain(st, nid, node, live, nid in deadlined)
    return ops


def _deadlined(st: ClusterState, now: float) -> set[str]:
    """drain_heap.go: the timer fires at the latest deadline within COALESCE of the earliest,
    for every node whose deadline has come by then (so an early one may wait up to 5s)."""
    force = {}
    for nid, node in st.nodes.items():
        at = parse_time((node.get("DrainStrategy") or {}).get("ForceDeadline"))
        if at is not None:
            force[nid] = at
    if not force:
        return set()
    earliest = min(force.values())
    fire_at = max(t for t in force.values() if t < earliest + COALESCE)
    return {nid for nid, t in force.items() if t <= fire_at} if now >= fire_at else set()


def _place(
    st: ClusterState, key: str, job: dict[str, Any], live: list[dict[str, Any]], load: dict
) -> list[Op]:
    ops: list[Op] = []
    fit = [nid for nid, n in st.nodes.items() if _fits(n, job)]
    for g in _groups(job):
        have = [a for a in live if a["JobKey"] == key and a["TaskGroup"] == g.get("Name")]
        if job.get("Type") == "system":
            on = {a["NodeID"] for a in have}
            ops += [("place", key, str(g.get("Name")), nid) for nid in fit if nid not in on]
            continue
        want = int(g.get("Count", 1))
        for _ in range(want - len(have)):
            if not fit:
                break  # blocked: no eligible node
            nid = min(fit, key=lambda n: (load.get(n, 0), n))
            load[nid] = load.get(nid, 0) + 1
            ops.append(("place", key, str(g.get("Name")), nid))
        for a in have[want:] if len(have) > want else []:
            ops.append(("stop", a["ID"], "alloc not needed due to job update"))
    return ops


def _drain(
    st: ClusterState, nid: str, node: dict[str, Any], live: list[dict[str, Any]], deadlined: bool
) -> list[Op]:
    strategy = node["DrainStrategy"]
    ignore_system = bool(strategy.get("IgnoreSystemJobs"))
    mine = [a for a in live if a["NodeID"] == nid]
    if int(strategy.get("Deadline") or 0) < 0 or deadlined:
        ops: list[Op] = [
            ("stop", a["ID"], "alloc is being drained: node deadline reached")
            for a in mine
            if not (ignore_system and a["JobType"] == "system")
        ]
        return [*ops, ("drain_done", nid, "deadline")]
    work = [a for a in mine if a["JobType"] != "system"]
    if not work:
        ops = [("stop", a["ID"], "alloc is being drained") for a in mine if not ignore_system]
        return [*ops, ("drain_done", nid, "")]
    ops = []
    for key, group in {(a["JobKey"], a["TaskGroup"]) for a in work if a["JobType"] == "service"}:
        job = st.jobs[key]
        g = next((g for g in _groups(job) if g.get("Name") == group), {})
        count = int(g.get("Count", 1))
        max_parallel = int((g.get("Migrate") or {}).get("MaxParallel", DEFAULT_MAX_PARALLEL))
        peers = [a for a in live if a["JobKey"] == key and a["TaskGroup"] == group]
        healthy = sum(
            1
            for a in peers
            if (a["DeploymentStatus"] or {}).get("Healthy")
            and not a["DesiredTransition"].get("Migrate")
        )
        drainable = [a for a in peers if a["NodeID"] == nid]
        n = min(len(drainable), healthy - (count - max_parallel))
        ops += [("migrate", a["ID"]) for a in sorted(drainable, key=lambda a: a["Name"])[:n]]
    return ops


def apply_ops(st: ClusterState, idx: int, ops: list[Op], now: float) -> list[str]:
    """Carry out `ops` (from `plan`) on the leader's state; returns log lines."""
    lines: list[str] = []
    ns_now = int(now * 1e9)
    for op in ops:
        kind = op[0]
        if kind == "place":
            key, group, nid = op[1], op[2], op[3]
            job = st.jobs[key]
            taken = {a["Name"] for a in _live(st) if a["JobKey"] == key}
            i = next(i for i in range(len(taken) + 1) if f"{job['ID']}.{group}[{i}]" not in taken)
            aid = str(uuid.uuid4())
            st.allocs[aid] = {
                "ID": aid,
                "EvalID": str(uuid.uuid4()),
                "Name": f"{job['ID']}.{group}[{i}]",
                "Namespace": job["Namespace"],
                "NodeID": nid,
                "NodeName": st.nodes[nid].get("Name", ""),
                "JobID": job["ID"],
                "JobKey": key,
                "JobType": job.get("Type", "service"),
                "TaskGroup": group,
                "DesiredStatus": "run",
                "DesiredDescription": "",
                "DesiredTransition": {"Migrate": None},
                "ClientStatus": "running",
                "ClientDescription": "Tasks are running",
                "DeploymentStatus": None,
                "CreateIndex": idx,
                "ModifyIndex": idx,
                "CreateTime": ns_now,
                "ModifyTime": ns_now,
            }
        elif kind in ("stop", "migrate", "healthy", "lost"):
            a = st.allocs[op[1]]
            if kind == "healthy":
                a["DeploymentStatus"] = {"Healthy": True, "Timestamp": rfc3339(now)}
            else:
                if kind == "migrate":
                    a["DesiredTransition"] = {"Migrate": True}
                a["DesiredStatus"] = "stop"
                a["DesiredDescription"] = op[2] if kind != "migrate" else "alloc is being migrated"
                a["ClientStatus"] = "lost" if kind == "lost" else "complete"
                a["ClientDescription"] = "" if kind == "lost" else "All tasks have completed"
            a["ModifyIndex"], a["ModifyTime"] = idx, ns_now
        elif kind == "drain_done":
            node = st.nodes[op[1]]
            update_node_drain(node, idx, None, False, None, "", True, now)
            detail = " (deadline reached)" if op[2] else ""
            lines.append(f"nomad.drain: node drain complete{detail}: node_id={op[1]}")
    return lines
