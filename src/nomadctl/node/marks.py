"""Nodes nomadctl made ineligible, written down before it does so: a killed run is finished.

A roll drains a client (or marks it ineligible), restarts it, and makes it eligible again.
Killed between the first step and the last, it used to leave the node ineligible for good:
the re-run found nothing to restart and said the cluster was healthy. So the node's ID goes
into state.json (`ineligible`: node ID -> name) *before* the drain or the mark, and leaves it
only once the node is eligible again; the next run's `restore` makes every node still listed
eligible (a drain still running is cancelled with MarkEligible) and forgets it. Nodes an
operator made ineligible are never listed, so never touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from nomadctl.cluster import operations
from nomadctl.cluster.api import Api
from nomadctl.errors import ClusterApiError
from nomadctl.workspace import Workspace

KEY = "ineligible"


@dataclass
class Marks:
    ws: Workspace
    _lock: threading.Lock = field(default_factory=threading.Lock)  # a batch's threads

    def listed(self) -> dict[str, str]:
        if not self.ws.state_path.exists():
            return {}
        return dict(self.ws.load_state().get(KEY) or {})

    def add(self, node_id: str, name: str) -> None:
        with self._lock:
            marks = self.listed()
            marks[node_id] = name
            self.ws.update_state(**{KEY: marks})

    def drop(self, node_id: str) -> None:
        with self._lock:
            marks = self.listed()
            if marks.pop(node_id, None) is not None:
                self.ws.update_state(**{KEY: marks})


def restore(api: Api, marks: Marks, progress: Callable[[str], None]) -> list[str]:
    """Make every listed node eligible again (cancelling a drain left running); the names of
    the nodes restored. A node the cluster no longer knows is forgotten."""
    done = []
    for node_id, name in marks.listed().items():
        try:
            node = operations.node(api, node_id)
        except ClusterApiError as exc:
            if "answered 404" in exc.message or "not found" in exc.message:
                marks.drop(node_id)
                continue
            raise
        if node.get("DrainStrategy") is not None:
            operations.stop_drain(api, node_id, mark_eligible=True)
        elif node.get("SchedulingEligibility") != "eligible":
            operations.set_eligibility(api, node_id, True)
        marks.drop(node_id)
        progress(f"{name}: eligible again (left ineligible by an interrupted run)")
        done.append(name)
    return done
