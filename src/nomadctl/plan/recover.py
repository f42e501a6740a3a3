"""`nomadctl recover`: bring back a cluster whose servers lost their quorum for good.

Nomad's outage-recovery guide (and the help nomad/server.go writes to `peers.info`), for
raft protocol 3: when a majority of the servers is gone for good the rest cannot elect a
leader, and never will. Stop every server still there, write into each one's raft directory
the same `peers.json` naming them by raft ID and address, start them: each applies it at
start (raft RecoverCluster), keeps its data, and they elect a leader among themselves. The
servers that were lost stay recorded in state.json, so the next `nomadctl up` brings the
count back (new servers join the recovered leader).

`find` reads what is there and refuses when there is nothing to recover: a leader answers,
a majority of the servers still has its data (they elect a leader once they run: `up`
starts them), or no server has any data left. `recover` runs the steps and waits for a
leader. The steps on a node are the provider's (`providers.outage`); the words are cli's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from nomadctl import providers
from nomadctl.cluster import acl, snapshot_store
from nomadctl.cluster.api import Api, ApiTarget
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import ClusterApiError, NomadctlError, WorkspaceError
from nomadctl.hosts import Host, hosts_of
from nomadctl.providers.outage import RAFT_DIR, Outage, ServerSeen, peers_json
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]


class NothingToRecover(NomadctlError):
    """The cluster has a leader, or its servers can elect one without help."""

    exit_code = 1


@dataclass
class RecoverPlan:
    """What `recover` found and will do: shown by the prompt and `--dry-run`, then run."""

    cluster: str
    servers: list[ServerSeen]
    raft_dir: str = RAFT_DIR  # under each survivor's data_dir

    @property
    def survivors(self) -> list[ServerSeen]:
        return [s for s in self.servers if s.survives]

    @property
    def gone(self) -> list[ServerSeen]:
        return [s for s in self.servers if not s.survives]

    @property
    def peers(self) -> bytes:
        return peers_json(self.survivors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "servers": [s.to_dict() for s in self.servers],
            "survivors": [s.host.name for s in self.survivors],
            "gone": [s.host.name for s in self.gone],
            "peers_json": [
                {"id": s.node_id, "address": s.rpc, "non_voter": False} for s in self.survivors
            ],
            "raft_dir": f"<data_dir>/{self.raft_dir}",
        }


@dataclass
class Recovered:
    """The outcome: the leader the survivors elected, and the snapshot taken after."""

    plan: RecoverPlan
    leader: str
    snapshot: str | None = None  # where the post-recovery snapshot went
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "leader": self.leader,
            "snapshot": self.snapshot,
            "servers_recorded": len(self.plan.servers),
            "notes": list(self.notes),
        }


def outage_for(ws: Workspace) -> Outage:
    """The recovery steps of the provider the cluster was made with."""
    state = ws.load_state()
    provider = providers.for_down(providers.recorded(ws), state, providers.DownOptions())
    return provider.agents(ws).outage(ws)


def _servers(ws: Workspace) -> list[Host]:
    ws.require_cluster("recover")
    servers = [h for h in hosts_of(ws.load_state()) if h.role == "server"]
    if not servers:
        raise WorkspaceError(
            f"cluster {ws.cluster!r} has no servers recorded in {ws.state_path}: nothing to recover"
        )
    return servers


def leaders_seen(target: ApiTarget) -> dict[str, str]:
    """Each server's own answer to GET /v1/status/leader ("" for none); unreachable ones
    are left out. Every server is asked on its own, so one that knows a leader counts."""

    def one(address: str) -> tuple[str, str | None]:
        try:
            return address, Api(replace(target, addresses=[address])).leader()
        except ClusterApiError:
            return address, None

    with ThreadPoolExecutor(max_workers=max(1, len(target.addresses))) as pool:
        answers = list(pool.map(one, target.addresses))
    return {a: leader for a, leader in answers if leader is not None}


def refuse_if_leader(ws: Workspace, timeout: float) -> None:
    target = acl.with_token(workspace_target(ws, timeout=timeout, token_kind=None), "")
    seen = leaders_seen(target)
    leader = next((v for v in seen.values() if v), "")
    if leader:
        raise NothingToRecover(
            f"cluster {ws.cluster!r} has a leader ({leader}): nothing to recover "
            "(recover is for servers that lost their quorum for good; `nomadctl status` "
            "shows them)"
        )


def find(ws: Workspace, progress: Progress, timeout: float = 5.0) -> RecoverPlan:
    """Read what is left of the servers; raise when there is nothing to recover."""
    servers = _servers(ws)
    refuse_if_leader(ws, timeout)
    progress("no leader answers; looking for the servers that still have their data")
    seen = outage_for(ws).probe(servers, progress)
    plan = RecoverPlan(ws.cluster, seen)
    alive, total = len(plan.survivors), len(servers)
    if not alive:
        raise NomadctlError(
            f"no server of cluster {ws.cluster!r} has its raft data left: nothing to recover "
            "from; make a new cluster (`nomadctl up`) and restore a snapshot into it"
        )
    if 2 * alive > total:
        raise NothingToRecover(
            f"{alive} of {total} servers of cluster {ws.cluster!r} still have their data, a "
            "majority: they elect a leader by themselves once they run (`nomadctl up` starts "
            "any that stopped); recover is for a majority gone for good"
        )
    return plan


def recover(
    ws: Workspace, plan: RecoverPlan, *, leader_timeout: float, progress: Progress
) -> Recovered:
    """Stop the survivors, give each the same peers.json, start them, wait for a leader."""
    refuse_if_leader(ws, 5.0)  # the prompt took time: a leader may have appeared since
    outage = outage_for(ws)
    survivors: Sequence[ServerSeen] = plan.survivors
    outage.stop(survivors, progress)
    outage.write_peers(survivors, plan.peers, progress)
    outage.start(survivors, progress)
    api = Api(acl.with_token(workspace_target(ws), ""))
    leader = api.wait_for_leader(leader_timeout, progress)
    progress(f"leader elected: {leader}")
    done = Recovered(plan, leader)
    _snapshot_after(ws, done, progress)
    if plan.gone:
        done.notes.append(
            f"`nomadctl up` brings the servers back to {len(plan.servers)} "
            f"({', '.join(s.host.name for s in plan.gone)} start anew and join the leader)"
        )
    return done


def _snapshot_after(ws: Workspace, done: Recovered, progress: Progress) -> None:
    """Issue 24 point 4: "it takes a snapshot once a leader exists again". A failed
    snapshot is a note: it must not undo a recovery that worked."""
    try:
        saved = snapshot_store.take(
            ws, workspace_target(ws), automatic=True, reason="after recover"
        )
    except NomadctlError as exc:
        done.notes.append(f"the snapshot after recovery failed: {exc.message}")
        return
    done.snapshot = str(saved.path)
    progress(f"snapshot after recovery: {saved.path.name}")
