"""What an outage recovery asks of a provider's servers (`nomadctl recover`, plan/recover.py).

Nomad's outage-recovery guide, for servers that lost their quorum for good: stop every
server still there, write the same `peers.json` into each one's raft directory
(`<data_dir>/server/raft/`, nomad/server.go setupRaft), naming each by its raft ID (the
`node-id` file in `<data_dir>/server/`, command/agent/agent.go setupNodeID) and the address
raft reaches it on, then start them. `Outage` is those steps on one kind of server: agents on
this machine (`providers/local/outage.py`) or over SSH (`providers/ssh_outage.py`, AWS and
hosts you already have). Each reports facts (`ServerSeen`) and raises a one-line error.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nomadctl.hosts import Host

Progress = Callable[[str], None]
RAFT_DIR = "server/raft"  # under data_dir (nomad/server.go raftState, under DataDir/server)
NODE_ID = "server/node-id"  # under data_dir (agent.go setupNodeID, config.DataDir/server)


@dataclass(frozen=True)
class ServerSeen:
    """One recorded server as the recovery finds it."""

    host: Host
    node_id: str | None  # its raft ID; None: its data is gone (or it cannot be reached)
    rpc: str  # the address:port raft reaches it on (its advertised RPC address)
    running: bool = False  # its agent runs now
    why: str = ""  # for a server counted as gone: why

    @property
    def survives(self) -> bool:
        return self.node_id is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.host.name,
            "node_id": self.node_id,
            "address": self.rpc,
            "running": self.running,
            "survives": self.survives,
            "why": self.why,
        }


def node_id(text: str) -> str | None:
    """A node-id file's text as Nomad reads it (trimmed, lower case, a UUID), else None."""
    value = text.strip().lower()
    try:
        uuid.UUID(value)
    except ValueError:
        return None
    return value if len(value) == 36 else None


def peers_json(servers: Sequence[ServerSeen]) -> bytes:
    """Raft protocol 3's peers.json (raft peersjson.go configEntry): every survivor a voter."""
    entries = [{"id": s.node_id, "address": s.rpc, "non_voter": False} for s in servers]
    return (json.dumps(entries, indent=2) + "\n").encode()


class Outage(Protocol):
    """The recovery's steps on one kind of server; each raises a one-line error."""

    def probe(self, hosts: Sequence[Host], progress: Progress) -> list[ServerSeen]:
        """Each server: its raft ID and whether its agent runs (never raises for one)."""
        ...

    def stop(self, servers: Sequence[ServerSeen], progress: Progress) -> None:
        """Stop these agents without leaving the cluster (SIGINT: a leave would take them
        out of raft)."""
        ...

    def write_peers(self, servers: Sequence[ServerSeen], data: bytes, progress: Progress) -> None:
        """Write `data` as peers.json into each one's raft directory (0600)."""
        ...

    def start(self, servers: Sequence[ServerSeen], progress: Progress) -> None:
        """Start these agents again and wait until each listens."""
        ...
