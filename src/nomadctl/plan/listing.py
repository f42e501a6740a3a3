"""Every cluster nomadctl has a workspace for, whatever its provider (`nomadctl list`, a
wrong `--cluster`, `down` of a cluster that does not exist): facts only, cli words them.

A cluster is a directory of the nomadctl home holding a state.json. Each one's health is its
`status` in one short look (leader, servers alive), asked of all clusters side by side, so a
cluster that does not answer costs its timeout once, not once per cluster.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nomadctl.errors import NomadctlError
from nomadctl.plan import words
from nomadctl.providers import state as cluster_state
from nomadctl.workspace import Workspace, known_clusters


@dataclass
class Entry:
    """One cluster of the home: where it runs, how many nodes, and whether it is healthy
    (None: not asked, or nothing runs)."""

    cluster: str
    provider: str  # "aws" | "static" | "local" | "" (nothing made yet)
    where: str
    servers: int = 0
    clients: int = 0
    healthy: bool | None = None
    problem: str = ""  # why it is not healthy, or why the state cannot be read
    hosts: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "provider": self.provider,
            "where": self.where,
            "servers": self.servers,
            "clients": self.clients,
            "healthy": self.healthy,
            "problem": self.problem,
        }


def names(home: Path) -> list[str]:
    """The clusters with a state.json under `home`, sorted."""
    return known_clusters(home)


def _where(kind: str | None, state: cluster_state.ClusterState) -> str:
    if kind == "static":
        addresses = [h.private_ip for h in state.hosts]
        shown = ", ".join(addresses[:3]) + (
            f" (+{len(addresses) - 3})" if len(addresses) > 3 else ""
        )
        return f"hosts {shown}" if addresses else "hosts (none recorded)"
    if kind == "aws":
        return f"AWS {state.aws_region or '?'}"
    return words.at(kind, None) if kind else "nothing made yet"


def entry(home: Path, name: str) -> Entry:
    ws = Workspace(home, name)
    state = cluster_state.read(ws)
    if state.damaged is not None:
        return Entry(name, "", "?", healthy=False, problem=f"state unreadable: {state.damaged}")
    kind = state.provider or ("aws" if state.aws_region else "")  # AWS: gone, region kept
    return Entry(
        name,
        kind,
        _where(kind or None, state),
        servers=sum(h.role == "server" for h in state.hosts),
        clients=sum(h.role != "server" for h in state.hosts),
        # Taken down (its CA and snapshots kept), or `up` never got as far as the nodes.
        problem="" if state.hosts else f"no nodes: `nomadctl --cluster {name} up` makes them",
        hosts=[h.name for h in state.hosts],
    )


def _health(home: Path, found: Entry, timeout: float) -> None:
    from nomadctl.cluster import status

    if not found.hosts:
        return
    try:
        report = status.collect(Workspace(home, found.cluster, named=True), timeout=timeout)
    except NomadctlError as exc:
        found.healthy, found.problem = False, exc.message
        return
    found.healthy = report.healthy
    found.problem = "; ".join(report.problems)


def clusters(home: Path, health: bool = True, timeout: float = 2.0) -> list[Entry]:
    """Every cluster of `home`; with `health`, each asked once how it is (side by side)."""
    entries = [entry(home, n) for n in names(home)]
    if health and any(e.hosts for e in entries):
        with ThreadPoolExecutor(max_workers=min(8, len(entries))) as pool:
            list(pool.map(lambda e: _health(home, e, timeout), entries))
    return entries
