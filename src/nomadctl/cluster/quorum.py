"""Quorum measured, not assumed: may one more server go down now, and is a restarted one back?

Autopilot's report (`/v1/operator/autopilot/health`, answered by the leader) is stale for an
unreachable server: raft-autopilot keeps the last stats it fetched for a server it cannot
reach (hashicorp/raft-autopilot v0.1.6, Nomad 1.10's, state.go buildServerState: the
existing Stats stay unless a fetch brought new ones) and serf calls a dead server `alive`
until its suspicion timeout runs out
(memberlist's WAN config, nomad/config.go: SuspicionMult 6 x max(1, log10 n) x ProbeInterval
5s, at least 30s, longer without confirmations from other members). For that long `Healthy`
and `FailureTolerance` still count a dead server.
So before any server is stopped, restarted, replaced or leaves, `check` wants all of:

- autopilot's `FailureTolerance` of at least 1 (a one-server cluster has none to keep, so
  it is not refused), every server in the report healthy;
- every other server answering on its own HTTP address (`/v1/status/leader`, no ACL) and
  naming the same leader, the one autopilot names by server ID;
- a server that just came back (`back`): a voter, healthy, and stable (autopilot's
  `StableSince`) for at least `stable_for` seconds.

`wait_safe` polls `check` until it holds, or raises with the last reason, so that the caller
stops *before* touching the next server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from nomadctl.cluster import operations
from nomadctl.cluster.api import Api
from nomadctl.errors import NomadctlError
from nomadctl.hosts import hosts_of, ssh_address, ssh_options_from_state
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]
SAFE_POLL_MAX = 0.25  # seconds between two looks at most: one autopilot GET + one per server


@dataclass(frozen=True)
class Server:
    """A server as the workspace knows it: its node name and its own API address."""

    name: str
    address: str  # https://ip:port


@dataclass(frozen=True)
class Safe:
    """What the check saw when it held."""

    health: operations.Health | None  # None: no token to read autopilot with
    leader_id: str
    leader_name: str  # the node name of the leader ("" when not one of `servers`)


def member_name(autopilot_name: str, names: Sequence[str]) -> str:
    """Autopilot names a server by its serf name, `<node>.<region>`: the node's name."""
    if autopilot_name in names:
        return autopilot_name
    head = autopilot_name.rsplit(".", 1)[0]
    return head if head in names else autopilot_name


def leader_of(api: Api, names: Sequence[str]) -> tuple[str, str]:
    """(leader's server ID, node name) from autopilot: the leader by its ID, never by its
    address (local agents may share one address on different ports)."""
    health = operations.autopilot_health(api)
    for s in health.servers:
        if str(s.get("ID")) == health.leader:
            return health.leader, member_name(str(s.get("Name") or ""), names)
    return health.leader, ""


def _own(api: Api, server: Server, kept: dict[str, Api] | None = None) -> Api:
    """A client of `server`'s own address; from `kept` (made once, its connection kept
    from one look to the next) when the caller keeps one."""
    if kept is not None and server.address in kept:
        return kept[server.address]
    own = Api(replace(api.target, addresses=[server.address], timeout=min(api.target.timeout, 5)))
    if kept is not None:
        kept[server.address] = own
    return own


def check(
    api: Api,
    servers: Sequence[Server],
    *,
    going: str | None = None,
    back: str | None = None,
    stable_for: float = 0.0,
    leave: bool = False,
    now: Callable[[], float] = time.time,
    kept: dict[str, Api] | None = None,
) -> tuple[Safe | None, str]:
    """One look at the cluster: (Safe, "safe") when the rules above hold, else (None, why).

    `leave`: `going` leaves gracefully, so two healthy voters may become one, but only when
    BOTH answer on their own addresses and name the same leader (the leaver included); a
    restart or a stop still needs a failure tolerance of 1. Why both, read in hashicorp/raft
    v1.7.3 (Nomad 1.10's) and nomad/server.go v1.10.5 Leave:

    - the leader commits a configuration change under the NEW configuration at once
      (raft.go appendConfigurationEntry -> commitment.setConfiguration; commitment.go counts
      the voters of that configuration only). A follower leaving {A, B}: the leader appends
      "B removed" and commits it alone, once it has heard B's leave (serf.Leave, while B
      waits up to raftRemoveGracePeriod, 5s, to see itself removed). The leader leaving:
      Leave runs RemoveServer(itself), which commits only when the other one acknowledges it.
    - a leave that fails there (the leaver killed before the leader heard it, the other one
      silent) leaves one live voter in a configuration of two: no quorum, and no automatic
      way back (raft-autopilot v0.1.6 reconcile.go pruneDeadServers may remove (voters-1)/2
      dead servers: none of two); `nomadctl recover`
      (peers.json) rebuilds it from the survivor. So the pair is checked as a pair."""
    names = [s.name for s in servers]
    pair = leave and len(servers) <= 2  # the last leave from two voters to one
    if not api.target.token:  # ACLs not bootstrapped yet: autopilot needs operator:read
        health, expected, leader_name = None, "", ""
    else:
        health = operations.autopilot_health(api)
        why = _autopilot(health, names, back, stable_for, leave, now)
        if why:
            return None, why
        leader = next(s for s in health.servers if str(s.get("ID")) == health.leader)
        expected = str(leader.get("Address") or "")
        leader_name = member_name(str(leader.get("Name") or ""), names)
    silent, named = [], {}
    for server in servers:
        if server.name == going and not pair:
            continue
        try:
            named[server.name] = _own(api, server, kept).leader()
        except NomadctlError:
            silent.append(server.name)
    if silent:
        return None, f"{', '.join(silent)} not answering on its own address"
    expected = expected or next(iter(named.values()), "")
    differ = sorted(n for n, lead in named.items() if not lead or lead != expected)
    if named and (not expected or differ):
        return (
            None,
            f"{', '.join(differ) or 'no server'} name(s) another leader than {expected or '?'}",
        )
    return Safe(health, health.leader if health else "", leader_name), "safe"


def _autopilot(
    health: operations.Health,
    names: Sequence[str],
    back: str | None,
    stable_for: float,
    leave: bool,
    now: Callable[[], float],
) -> str:
    """Why autopilot's report forbids the step ("" when it allows it)."""
    by_name = {member_name(str(s.get("Name") or ""), names): s for s in health.servers}
    voters = [s for s in health.servers if s.get("Voter")]
    if not any(str(s.get("ID")) == health.leader for s in health.servers):
        return "autopilot names no leader"
    unhealthy = ", ".join(health.unhealthy())
    if health.failure_tolerance < 1 and len(voters) > (2 if leave else 1):
        return (
            f"failure tolerance is {health.failure_tolerance} ({len(voters)} voters"
            + (f", unhealthy: {unhealthy}" if unhealthy else "")
            + "): one more server down would lose quorum"
        )
    if not health.healthy:
        return f"autopilot reports unhealthy: {unhealthy}"
    if back is not None:
        entry = by_name.get(back)
        if entry is None or not entry.get("Voter") or not entry.get("Healthy"):
            return f"{back} is not a healthy voter yet"
        since = operations.parse_time(str(entry.get("StableSince") or ""))
        if since is None or now() - since < stable_for:
            return f"{back} is a voter, not yet stable for {stable_for:.0f}s"
    return ""


def wait_safe(
    api: Api,
    servers: Sequence[Server],
    timeout: float,
    *,
    going: str | None = None,
    back: str | None = None,
    stable_for: float = 0.0,
    leave: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    kept: dict[str, Api] | None = None,
) -> Safe:
    """Poll `check` until it holds; ClusterApiError with the last reason after `timeout`
    ("quorum check before <going>: not done after Ns (<why>)")."""
    what = f"before {going} goes" if going else f"for {back or 'the servers'}"

    def once() -> tuple[Safe | None, str]:
        return check(
            api, servers, going=going, back=back, stable_for=stable_for, leave=leave, kept=kept
        )

    # The wait is for a restarted server to become a stable voter (stable_for, typically 2s)
    # or for a fresh report: look every 0.1 s, then at most every SAFE_POLL_MAX s, so the
    # roll learns of it within that (the default backoff to 2s had cost up to 1.9s a step).
    return operations.poll(
        once, timeout, f"quorum check {what}", progress, cancel, first=0.1, most=SAFE_POLL_MAX
    )


def workspace_servers(ws: Workspace) -> list[Server]:
    """Every server the workspace records, with the API address nomadctl reaches it on
    (as `target.workspace_target` builds its addresses)."""
    state = ws.load_state()
    ssh = ssh_options_from_state(state)
    return [
        Server(h.name, f"https://{ssh_address(h, ssh)}:{h.http_port}")
        for h in hosts_of(state)
        if h.role == "server"
    ]
