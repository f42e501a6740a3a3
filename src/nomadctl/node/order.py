"""The order in which day-2 changes touch nodes, so that the cluster keeps serving.

Pure decisions, no I/O: which servers restart in which order, which clients go in which
batch, and which nodes leave when a count goes down. The roll (`node.roll`) and the day-2
steps (`plan.scale`, `plan.replace`) apply them with the API (drain, eligibility, autopilot
health) between steps.

The rules are Nomad's and raft's:
- a raft cluster of ``n`` voters needs ``n // 2 + 1`` of them to commit; restarting one server
  at a time keeps a healthy 3- or 5-server cluster above that at every moment;
- the leader restarts last, so there is one election, not one per restart
  (https://developer.hashicorp.com/nomad/docs/upgrade: "upgrade the servers one at a time,
  leaving the leader until last");
- server counts stay odd: an even count tolerates no more failures than the odd count below
  it (https://developer.hashicorp.com/nomad/docs/architecture/cluster/consensus#deployment-table);
- servers leave one at a time, so that every removal is a committed raft configuration change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nomadctl.errors import UsageError


@dataclass(frozen=True)
class RolloutOptions:
    """How `up` restarts running agents whose files changed (`--max-unavailable`,
    `--drain-deadline`, `--client-restart`)."""

    max_unavailable: int = 1  # clients restarted at once
    drain_deadline: float = 300.0  # seconds a draining client's allocations get to move
    client_restart: Literal["drain", "ineligible"] = "drain"
    health_timeout: float = 300.0  # per server: restart until autopilot says healthy
    # A restarted server counts once autopilot has seen it a healthy voter this long (its
    # StableSince); 2s is autopilot's ServerHealthInterval, one fresh report.
    stable_for: float = 2.0


def bootstrap_expect(recorded: int | None, servers: int) -> int:
    """The bootstrap_expect for every server's join.hcl.

    The count the cluster was bootstrapped with, kept: running servers advertise it in serf
    (tag ``expect``) and a new server whose value differs logs a conflict and never takes
    part in a bootstrap (nomad/serf.go maybeBootstrap); once raft has a log the value is not
    read at all. Except 1: a server started with bootstrap_expect 1 bootstraps a cluster of
    its own (nomad/server.go setupRaft, isSingleServerCluster), so servers added to a
    one-server cluster get the new count (they see the old one's ``bootstrap`` tag and
    leave bootstrapping alone; the leader adds them)."""
    if recorded is None or recorded < 1 or (recorded == 1 and servers > 1):
        return servers
    return recorded


def quorum(voters: int) -> int:
    """How many voters must agree for raft to commit."""
    return voters // 2 + 1


def check_server_count(count: int) -> None:
    """Refuse a server count that Nomad's deployment table advises against."""
    if count < 1:
        raise UsageError(f"--servers {count}: a cluster needs at least one server")
    if count % 2 == 0:
        raise UsageError(
            f"--servers {count}: use an odd number (an even count tolerates no more "
            f"failures than {count - 1})"
        )


def server_restart_order(servers: Sequence[str], leader: str | None) -> list[str]:
    """Followers first (in the given order), the leader last."""
    followers = [s for s in servers if s != leader]
    return followers + ([leader] if leader in servers else [])


def client_batches(clients: Sequence[str], max_unavailable: int) -> list[list[str]]:
    """Clients in batches of at most ``max_unavailable``, in the given order."""
    if max_unavailable < 1:
        raise UsageError(f"--max-unavailable {max_unavailable}: use 1 or more")
    return [list(clients[i : i + max_unavailable]) for i in range(0, len(clients), max_unavailable)]


@dataclass(frozen=True)
class ScaleIn:
    """Which nodes leave, in the order they leave."""

    servers: list[str]
    clients: list[str]


def scale_in(
    servers: Sequence[str],
    clients: Sequence[str],
    *,
    want_servers: int,
    want_clients: int,
    leader: str | None = None,
) -> ScaleIn:
    """The surplus nodes, newest first (nodes are named ``...-1``, ``...-2``, ...).

    The leader is never chosen while a follower can go instead; the servers that stay must be
    an allowed count (odd, at least one).
    """
    if want_clients < 0:
        raise UsageError(f"--clients {want_clients}: use 0 or more")
    check_server_count(want_servers)
    surplus = max(0, len(servers) - want_servers)
    candidates = [s for s in reversed(servers) if s != leader]
    leaving_servers = candidates[:surplus]
    if len(leaving_servers) < surplus and leader in servers:
        leaving_servers.append(leader)  # only when every follower goes too
    leaving_clients = list(reversed(clients))[: max(0, len(clients) - want_clients)]
    return ScaleIn(servers=leaving_servers, clients=leaving_clients)
