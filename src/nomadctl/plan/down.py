"""`down` as a plan for providers without a `down` of their own in the CLI (local):
find what the provider made (a read, shown by the prompt and --dry-run), delete it, and
forget the cluster's hosts, pins and ACL tokens; the CA stays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nomadctl import acl, lifecycle
from nomadctl.plan.core import Plan, Progress, Step
from nomadctl.providers.base import Destroyed, ProviderPlan
from nomadctl.workspace import Workspace


@dataclass
class DownRun:
    ws: Workspace
    provider: Any
    found: Destroyed
    done: Destroyed | None = None
    forgotten: list[str] = field(default_factory=list)


def build(ws: Workspace, provider: Any, progress: Progress) -> tuple[Plan, DownRun]:
    found = provider.destroy(ws, progress, dry_run=True)
    pplan = ProviderPlan(
        provider=provider.name,
        where=found.where,
        resources=found.resources,
        changed=bool(found.resources),
    )
    plan = Plan("down", ws.cluster, pplan)
    run = DownRun(ws, provider, found)
    plan.steps = [
        Step("find", f"{len(found.resources)} resource(s) on {found.where}", lambda p: "found"),
        Step(
            "delete",
            "stop every agent and remove what nomadctl made",
            lambda p: _delete(run, p),
            skipped="" if found.resources else "nothing to delete",
        ),
        Step("forget", "drop the hosts, their pins and the ACL tokens", lambda p: _forget(run)),
    ]
    return plan, run


def _delete(run: DownRun, progress: Progress) -> str:
    run.done = run.provider.destroy(run.ws, progress)
    failed = len(run.done.failed) + len(run.done.errors)
    return f"{len(run.done.resources) - failed} removed" + (f", {failed} failed" if failed else "")


def _forget(run: DownRun) -> str:
    ws = run.ws
    if not ws.state_path.exists() or (run.done and (run.done.failed or run.done.errors)):
        return "kept (something is left)"
    state = ws.load_state()
    lifecycle.forget_pins(ws, lifecycle.hosts_of(state))
    acl.forget_tokens(ws)
    for key in ("hosts", "configured", "leaving", run.provider.name):  # and its own record
        state.pop(key, None)
    ws.save_state(state)  # `provider` stays: a second `down` finds nothing and says so
    return "hosts and tokens forgotten"
