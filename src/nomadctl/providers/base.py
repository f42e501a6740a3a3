"""The one interface every kind of cluster implements: AWS, hosts you already have, local.

A provider says which hosts it would create or use (`plan`), makes or finds them (`apply`),
lists what exists (`hosts`), removes what it made (`destroy`), and hands out the `Agents`
that put Nomad on its hosts (over SSH, or as processes on this machine). The plan in
`nomadctl.plan` runs the same named steps whatever the provider; it never asks which one it
has. Providers return facts (`ProviderPlan`, `Applied`, `Destroyed`, `Forgotten`, `Reach`);
`plan.words` and `cli/` choose the words. A new provider is a new package registered in
`providers/__init__.py`, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from nomadctl.hosts import Host, Role
from nomadctl.workspace import Workspace

if TYPE_CHECKING:  # types only: providers configure nodes through node/, never the reverse
    from nomadctl.node.configure import HostResult
    from nomadctl.node.fleet import NodeOptions
    from nomadctl.node.render import AutoJoin
    from nomadctl.providers.outage import Outage

Progress = Callable[[str], None]
HostAction = Literal["create", "use", "keep", "replace", "remove"]


@dataclass(frozen=True)
class PlannedHost:
    """One node as the plan sees it before anything runs."""

    name: str
    role: Role
    address: str = ""  # "" while the provider does not know it yet (a host to create)
    action: HostAction = "use"
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "address": self.address,
            "action": self.action,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Resource:
    """A provider's own resource (VPC, key pair, agent process...) and what happens to it."""

    kind: str
    name: str
    id: str | None = None
    status: str = "kept"
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "id": self.id,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass
class ProviderPlan:
    """What `apply` will do: read once, shown by the prompt and `--dry-run`, then applied.

    `detail` is the provider's own record of what it found (the AWS plan), handed back to
    `apply` so that nothing is asked twice."""

    provider: str  # "aws" | "hosts" | "local"
    where: str  # "AWS eu-west-1", "hosts you already have", "this machine"
    hosts: list[PlannedHost] = field(default_factory=list)
    resources: list[Any] = field(default_factory=list)  # objects with .to_dict()
    changed: bool = True  # anything to create or change
    spends_money: bool = False  # True: `up` needs a yes before applying
    costs: Any = None  # nomadctl.providers.aws.costs.Estimate, for providers that bill
    warnings: list[str] = field(default_factory=list)
    detail: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "where": self.where,
            "changed": self.changed,
            "spends_money": self.spends_money,
            "hosts": [h.to_dict() for h in self.hosts],
            "resources": [r.to_dict() for r in self.resources],
            "costs": self.costs.to_dict() if self.costs is not None else None,
            "warnings": list(self.warnings),
        }


@dataclass
class Applied:
    """The provider's hosts after `apply`, servers first, and what it did to get them."""

    hosts: list[Host]
    resources: list[Any] = field(default_factory=list)
    region: str | None = None  # AWS only
    auto_join: AutoJoin | None = None  # AWS only

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": [h.to_dict() for h in self.hosts],
            "resources": [r.to_dict() for r in self.resources],
            "region": self.region,
        }


@dataclass
class Destroyed:
    """What `destroy` removed (or would, with dry_run), as facts: `plan.words` says how
    `down` reads them. `failed` names what is left; `summary` adds the provider's own keys to
    `--json`."""

    resources: list[Any] = field(default_factory=list)
    where: str = ""
    errors: list[str] = field(default_factory=list)  # one per host or agent left behind
    summary: dict[str, Any] = field(default_factory=dict)
    kind: str = ""  # the provider's name: "aws" | "static" | "local"
    region: str | None = None  # AWS
    unreachable: list[str] = field(default_factory=list)  # hosts that did not answer SSH
    force: bool = False  # hosts that did not answer were skipped (`down --force`)
    wait: float = 0.0  # seconds each host had to answer
    moved_aside: str | None = None  # where `forget` set an unreadable state.json aside

    @property
    def failed(self) -> list[Any]:
        return [r for r in self.resources if getattr(r, "status", "") == "failed"]

    def with_status(self, status: str) -> list[Any]:
        return [r for r in self.resources if getattr(r, "status", "") == status]

    @property
    def left(self) -> bool:
        """Something could not be removed: the state keeps it for the next `down`."""
        return bool(self.failed or self.errors)


@dataclass(frozen=True)
class Forgotten:
    """What `forget` dropped from state.json after `destroy`.

    `outcome`: "forgotten" (the hosts, their pins and the ACL tokens), "hosts" (hosts you
    keep: `hosts` of them dropped, `kept` still recorded), "moved aside" (an unreadable
    state set aside), "unreadable" (an unreadable state kept), "kept" (something is left),
    "nothing" (nothing to forget) or "no workspace"."""

    outcome: str
    hosts: int = 0
    kept: int = 0
    aside: str | None = None


@dataclass(frozen=True)
class Reach:
    """How a cluster of this kind is reached once it runs, as facts for `up`'s summary."""

    ssh: bool = True  # `nomadctl ssh NODE` works
    logs: bool = False  # `nomadctl logs NODE` reads a file on this machine
    drivers: tuple[str, ...] | None = None  # the clients' task drivers, when known here
    sample_jobs: tuple[str, ...] = ()  # examples/jobs those drivers run
    api: str | None = None  # the cluster's own API endpoint (AWS: its load balancer)


class Agents(Protocol):
    """Puts Nomad on a provider's hosts and takes it off again.

    `configure` returns one `nomadctl.node.configure.HostResult` per host and never raises for
    one host's failure; `on_servers_done` is called as soon as every server has its result.
    """

    def configure(
        self,
        ws: Workspace,
        hosts: Sequence[Host],
        node: NodeOptions,
        progress: Progress,
        on_servers_done: Callable[[list[HostResult]], None] | None = None,
    ) -> list[HostResult]: ...

    def teardown(
        self, ws: Workspace, hosts: Sequence[Host], progress: Progress, leave: bool = False
    ) -> list[str]:
        """Stop the agents and remove what nomadctl put there; one error line per host.
        `leave`: a server leaves the cluster gracefully first (SIGTERM with
        leave_on_terminate: out of raft before it exits), for a scale-in or a replacement."""
        ...

    def describe(self) -> str:
        """What the plan shows of how the hosts are reached ("SSH as ubuntu to their public
        addresses", "processes on this machine, each on its own loopback address")."""
        ...

    def outage(self, ws: Workspace) -> Outage:
        """The steps of an outage recovery on these servers (`nomadctl recover`)."""
        ...


class Provider(Protocol):
    name: str

    def plan(self, ws: Workspace, progress: Progress) -> ProviderPlan: ...

    def apply(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> Applied: ...

    def hosts(self, ws: Workspace) -> list[Host]: ...

    def destroy(self, ws: Workspace, progress: Progress, dry_run: bool = False) -> Destroyed: ...

    def forget(self, ws: Workspace, done: Destroyed) -> Forgotten:
        """After `destroy`: drop from state.json what is gone (never creating a workspace);
        the CA stays."""
        ...

    def remove(self, ws: Workspace, hosts: Sequence[Host], progress: Progress) -> None:
        """Scale-in: remove these hosts (their agents already stopped) and nothing else."""
        ...

    def replace(
        self, ws: Workspace, host: Host, plan: ProviderPlan, progress: Progress
    ) -> list[Host]:
        """Day 2: make a node planned "replace" anew (its agent already stopped and out of
        the cluster); every host after. Only providers that plan "replace" are asked."""
        ...

    def agents(self, ws: Workspace) -> Agents: ...

    def reach(self, ws: Workspace) -> Reach:
        """How this kind of cluster is reached (`up`'s summary words it)."""
        ...
