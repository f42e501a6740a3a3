"""One look at the node list for every client of a roll waiting to register again.

A restarted client is back when Nomad shows it `ready` with a new ModifyIndex (its
Node.Register since the restart: `roll.Roll._ready`). Several clients wait at once (up to
`--max-unavailable`); instead of one GET per client per look, `NodeWatch.node` answers from
one `GET /v1/nodes` (the node stubs carry ModifyIndex and Status, Nomad's
structs.Node.Stub) that is at most `every` seconds old, fetched by whichever waiter finds it
stale while the others wait for that answer. So the waits can look every 0.1 s, catching a
registration within about 0.1 s, for the cost of one small request per 0.1 s in all.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from nomadctl.cluster.api import Api


@dataclass
class NodeWatch:
    api: Api
    every: float = 0.1  # seconds a fetched list serves (larger for a large fleet: `sized`)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _at: float = float("-inf")
    _nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    EVERY = 0.1  # the waiters' own pace

    @classmethod
    def sized(cls, api: Api, nodes: int) -> NodeWatch:
        """A list of many nodes is fetched less often (~500 nodes per 0.1 s at most)."""
        return cls(api, every=max(cls.EVERY, nodes / 5000))

    def node(self, node_id: str) -> dict[str, Any] | None:
        """The node's stub from a list at most `every` s old (None: not listed); raises the
        list's ClusterApiError, which the waiter's poll counts as one more try."""
        with self._lock:
            if time.monotonic() - self._at >= self.every:
                self._nodes = {str(n.get("ID")): n for n in self.api.nodes()}
                self._at = time.monotonic()
            return self._nodes.get(node_id)
