"""Replace nodes whose machine changed (an AWS instance type), one at a time, the way a
scale-in removes them and a scale-out adds them, so the cluster keeps its quorum and all but
one node's capacity throughout:

- a client is drained through Nomad's API (`--drain-deadline`), its agent stopped;
- a server (followers first, the leader last), once quorum is measured safe without it
  (`cluster.quorum`), leaves gracefully (SIGTERM with
  leave_on_terminate: out of raft before it exits; force-leave and raft peer removal only if
  it died instead), and autopilot must report the remaining servers healthy;
- then the provider makes the node anew under the same name, the node gets a certificate for
  its new addresses and is configured, and the next node waits until this one is back: a
  client ready and eligible, a server a healthy voter again (autopilot promotes it after
  server_stabilization_time).

A provider that `replaces_in_place` (AWS: stop, change type, start the same instance) keeps the
node's disk: its agent is not torn down (the provider stops it, a server leaving raft as on
any shutdown), a server goes only while autopilot reports every server healthy, and a client
comes back under its own node ID, made eligible again once it is ready.

A failure stops the replacement at that node and says so; a re-run of `up` carries on: a node
already made anew is no longer planned "replace", one whose instance was terminated is created,
one that was stopped but not yet terminated is replaced again (each step is idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nomadctl.cluster import operations, quorum
from nomadctl.cluster.api import Api
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import NomadctlError, RemoteError
from nomadctl.hosts import Host
from nomadctl.plan import scale
from nomadctl.plan.core import Progress
from nomadctl.providers.base import ProviderPlan
from nomadctl.workspace import Workspace

HEALTHY_WAIT = 120.0  # autopilot's stabilization (10s) plus a fresh agent's start
READY_WAIT = 120.0  # a new client registering and turning ready
STABLE_FOR = 2.0  # a new server counts once autopilot has seen it a healthy voter this long

# (hosts now, the node made anew) -> configure it; raises on failure
Configure = Callable[[list[Host], Host], None]


@dataclass
class Replacement:
    ws: Workspace
    provider: Any
    plan: ProviderPlan
    hosts: list[Host]  # every host; updated as nodes are made anew
    configure: Configure
    drain_deadline: float


def planned(plan: ProviderPlan) -> list[str]:
    return [h.name for h in plan.hosts if h.action == "replace"]


def run(job: Replacement, progress: Progress) -> str:
    """Replace every node the plan marks "replace", one at a time; the hosts after."""
    names = set(planned(job.plan))
    going = [h for h in job.hosts if h.name in names]
    if not going:
        return "nothing to replace"
    api = Api(workspace_target(job.ws))
    clients = sorted((h for h in going if h.role == "client"), key=lambda h: h.name)
    servers = scale.followers_first(
        api, sorted((h for h in going if h.role == "server"), key=lambda h: h.name)
    )
    for host in [*clients, *servers]:
        try:
            _one(job, host, progress)
        except NomadctlError as exc:
            raise type(exc)(
                f"replacement stopped at {host.name}: {exc.message.rstrip('.')}; "
                "re-run `nomadctl up` to carry on"
            ) from None
    return f"replaced {', '.join(h.name for h in [*clients, *servers])}, one at a time"


def _one(job: Replacement, host: Host, progress: Progress) -> None:
    ws = job.ws
    api = Api(workspace_target(ws))
    servers = sum(1 for h in job.hosts if h.role == "server")
    in_place = bool(getattr(job.provider, "replaces_in_place", False))
    if host.role == "client":
        scale.drain(api, host, job.drain_deadline, progress)
    else:  # measured, not assumed: the cluster runs on one server less until it is back
        everyone = quorum.workspace_servers(ws)
        quorum.wait_safe(api, everyone, HEALTHY_WAIT, going=host.name, progress=progress)
    if not in_place:  # in place (AWS type change), the same machine comes back with its data
        try:
            scale.stop_agent(ws, job.provider.agents(ws), host, progress, host.role == "server")
        except RemoteError as exc:
            raise RemoteError(f"could not stop its agent: {exc.message}") from None
        if host.role == "server":
            operations.ensure_server_gone(api, scale.member(host, ws), HEALTHY_WAIT, progress)
            operations.wait_healthy(api, HEALTHY_WAIT, voters=servers - 1, progress=progress)
    progress(f"{host.name}: replacing the machine")
    job.hosts = job.provider.replace(ws, host, job.plan, progress)
    new = next(h for h in job.hosts if h.name == host.name)
    job.configure(job.hosts, new)
    api = Api(workspace_target(ws))  # the new address is in the state now
    if host.role == "server":
        operations.wait_healthy(api, HEALTHY_WAIT, voters=servers, progress=progress)
        everyone = quorum.workspace_servers(ws)
        quorum.wait_safe(
            api, everyone, HEALTHY_WAIT, back=host.name, stable_for=STABLE_FOR, progress=progress
        )
    else:
        if in_place:  # the same node ID, drained and ineligible: eligible again once ready
            _eligible_again(api, host.name, progress)
        _wait_ready(api, host.name, progress)
    progress(f"{host.name}: replaced ({new.private_ip})")


def _eligible_again(api: Api, name: str, progress: Progress) -> None:
    def check() -> tuple[Any, str]:
        mine = [n for n in api.nodes() if n.get("Name") == name]
        ready = [n for n in mine if n.get("Status") == "ready"]
        return (ready[0] if ready else None), "not ready yet"

    node = operations.poll(check, READY_WAIT, f"waiting for {name} to be ready", progress, None)
    if node.get("SchedulingEligibility") != "eligible":
        operations.set_eligibility(api, node["ID"], True)


def _wait_ready(api: Api, name: str, progress: Progress) -> None:
    """The new node (a new node ID under the old name; the old one is drained, then down)."""

    def check() -> tuple[Any, str]:
        mine = [n for n in api.nodes() if n.get("Name") == name]
        for node in mine:
            if node.get("Status") == "ready" and node.get("SchedulingEligibility") == "eligible":
                return node, "ready"
        return None, "not registered yet" if not mine else "not ready and eligible yet"

    operations.poll(check, READY_WAIT, f"waiting for {name} to be ready", progress, None)
