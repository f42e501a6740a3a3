"""The one interface every kind of cluster implements: AWS, hosts you already have, local.

A provider says which hosts it would create or use (`plan`), makes or finds them (`apply`),
lists what exists (`hosts`), removes what it made (`destroy`), and hands out the `Agents`
that put Nomad on its hosts (over SSH, or as processes on this machine). The plan in
`nomadctl.plan` runs the same named steps whatever the provider; it never asks which one it
has. A new provider is a new module registered in `providers/__init__.py`, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from nomadctl.hosts import Host, Role
from nomadctl.workspace import Workspace

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
    auto_join: Any = None  # nomadctl.node.render.AutoJoin, AWS only
    # Providers whose resources the summary lists: the table's and the --json key's name
    # ("AWS": "AWS resources of cluster 'x' in eu-west-1", `"aws": {...}`); "" lists none.
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": [h.to_dict() for h in self.hosts],
            "resources": [r.to_dict() for r in self.resources],
            "region": self.region,
        }


@dataclass
class Destroyed:
    """What `destroy` removed (or would, with dry_run); `failed` names what is left.

    The provider also says how `down` words its result, so the command never asks which
    provider it has: `at` places the tables ("in eu-west-1"), `nothing` is the line when
    there is nothing to delete, `notes` go to stderr after the run, `summary` adds the
    provider's own keys to `--json`, and `error` is what `down` exits with when something
    is left (None: a generic one from `failed`/`errors`)."""

    resources: list[Any] = field(default_factory=list)
    where: str = ""
    errors: list[str] = field(default_factory=list)
    at: str = ""
    nothing: str = ""
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    error: Exception | None = None

    @property
    def failed(self) -> list[Any]:
        return [r for r in self.resources if getattr(r, "status", "") == "failed"]

    @property
    def left(self) -> bool:
        """Something could not be removed: the state keeps it for the next `down`."""
        return bool(self.failed or self.errors or self.error)


class Agents(Protocol):
    """Puts Nomad on a provider's hosts and takes it off again.

    `configure` returns one `nomadctl.node.configure.HostResult` per host and never raises for
    one host's failure; `on_servers_done` is called as soon as every server has its result.
    """

    def configure(
        self,
        ws: Workspace,
        hosts: Sequence[Host],
        node: Any,  # nomadctl.node.fleet.NodeOptions
        progress: Progress,
        on_servers_done: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]: ...

    def teardown(
        self, ws: Workspace, hosts: Sequence[Host], progress: Progress, leave: bool = False
    ) -> list[str]:
        """Stop the agents and remove what nomadctl put there; one error line per host.
        `leave`: a server leaves the cluster gracefully first (SIGTERM with
        leave_on_terminate: out of raft before it exits), for a scale-in or a replacement."""
        ...

    def describe(self) -> str:
        """One line for the plan: how the hosts are reached ("SSH as ubuntu, public IPs")."""
        ...


class Provider(Protocol):
    name: str

    def plan(self, ws: Workspace, progress: Progress) -> ProviderPlan: ...

    def apply(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> Applied: ...

    def hosts(self, ws: Workspace) -> list[Host]: ...

    def destroy(self, ws: Workspace, progress: Progress, dry_run: bool = False) -> Destroyed: ...

    def forget(self, ws: Workspace, done: Destroyed) -> str:
        """After `destroy`: drop from state.json what is gone (never creating a workspace);
        the CA stays. Returns the outcome line."""
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

    def summary_lines(self, ws: Workspace, first: Host) -> list[str]:
        """How to reach this kind of cluster, after API/Connect/Status in `up`'s summary
        ("SSH:      nomadctl --cluster c ssh c-server-1"); `first` is the first server."""
        ...
