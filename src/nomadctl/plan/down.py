"""`down` as a plan, the same for every provider: find what the provider made (a read,
shown by the prompt and --dry-run), delete it, and let the provider forget in state.json
what is gone (hosts, pins, ACL tokens); the CA stays. A final snapshot of the cluster's
state is saved first (plan/snapshots.py) unless --no-snapshot; one that fails stops `down`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nomadctl.plan import words
from nomadctl.plan.core import Plan, Progress, Step
from nomadctl.plan.snapshots import AutoSnapshots, s3_copier
from nomadctl.providers.base import Destroyed, ProviderPlan
from nomadctl.workspace import Workspace


@dataclass
class DownRun:
    ws: Workspace
    provider: Any
    found: Destroyed
    done: Destroyed | None = None


def build(
    ws: Workspace,
    provider: Any,
    progress: Progress,
    snapshot: bool = True,
    keep: int = 10,
    copy_to: tuple[str, str | None, str | None] = ("", None, None),  # url, region, profile
) -> tuple[Plan, DownRun]:
    copy = s3_copier(*copy_to)
    found = provider.destroy(ws, progress, dry_run=True)
    snaps = AutoSnapshots(ws, enabled=snapshot, keep=keep, copy=copy)
    pplan = ProviderPlan(
        provider=provider.name,
        where=found.where,
        resources=found.resources,
        changed=bool(found.resources),
    )
    plan = Plan("down", ws.cluster, pplan)
    run = DownRun(ws, provider, found)
    nothing = "" if found.resources else "nothing to delete"
    live = bool(found.resources) and ws.state_path.exists() and snaps.live()
    where = f"{len(found.resources)} resource(s) {words.at(found.kind, found.region)}"
    plan.steps = [
        Step("find", where, lambda p: where),
        Step(
            "snapshot",
            "save a final raft snapshot in the workspace",
            lambda p: _final(snaps, p),
            skipped="--no-snapshot" if not snapshot else ("" if live else "no cluster to save"),
        ),
        Step(
            "delete",
            "stop the agents, delete what nomadctl made",
            lambda p: _delete(run, p),
            skipped=nothing,
        ),
        Step(
            "forget",
            "drop the hosts, their pins and the ACL tokens from the workspace",
            lambda p: _forget(run),
        ),
    ]
    return plan, run


def _final(snaps: AutoSnapshots, progress: Progress) -> str:
    snaps.before("down", "down", progress)
    return f"saved {snaps.taken[-1].path.name}" if snaps.taken else "nothing to save"


def _delete(run: DownRun, progress: Progress) -> str:
    run.done = run.provider.destroy(run.ws, progress)
    failed = len(run.done.failed) + len(run.done.errors)
    return f"{len(run.done.resources) - failed} removed" + (f", {failed} failed" if failed else "")


def _forget(run: DownRun) -> str:
    """Runs even when nothing was found: a state naming hosts deleted elsewhere is cleaned."""
    return words.forgotten(run.provider.forget(run.ws, run.done or run.found))
