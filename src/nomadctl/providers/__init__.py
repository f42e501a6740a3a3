"""Where hosts come from: one package per kind of cluster, behind `providers.base`.

- `aws` (`aws.provider.AwsProvider`): creates (and deletes) the cluster's EC2
  infrastructure, found by tags.
- `hosts` (`hosts.provider.StaticProvider`): machines you already have, over SSH.
- `local` (`local.provider.LocalProvider`): agents as processes on this machine.

Shared by them: `base` (the interface every provider implements; no step asks which provider
it has), `state` (what state.json records of a cluster's hosts), `ssh_agents` (agents reached
over SSH, used by `aws` and `hosts`) and `logs` (where an agent's log is). The three kinds
never import each other. `recorded(ws)` names the provider a workspace was made with
(state.json "provider", "static" for hosts you have) and `for_down` makes that provider for
`down`: each package's own `provider.for_down(state, opts)`, so a new provider is one more
entry in `MODULES`. (`up` makes its provider from `up`'s options in `plan.options`.) Providers
return facts; the commands choose the words. May import node, cluster, pki and the shared
base; never plan or cli. boto3 is imported inside functions so `nomadctl --help` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nomadctl.node.connect import reset_acl_bootstrap
from nomadctl.workspace import Workspace

MODULES = {
    "aws": "nomadctl.providers.aws.provider",
    "static": "nomadctl.providers.hosts.provider",
    "local": "nomadctl.providers.local.provider",
}
KINDS = tuple(MODULES)


@dataclass(frozen=True)
class DownOptions:
    """`down`'s flags, for whichever provider the cluster has."""

    region: str | None = None  # AWS
    profile: str | None = None  # AWS
    force: bool = False  # hosts you already have: skip those that do not answer
    ssh_wait: float = 10.0  # hosts you already have: seconds each gets to answer


def for_down(kind: str | None, state: dict[str, Any], opts: DownOptions) -> Any:
    """The provider a recorded cluster was made with; AWS (found by tag) when the state
    names none or is unreadable."""
    module = importlib.import_module(MODULES[kind if kind in MODULES else "aws"])
    return module.for_down(state, opts)


def acl_reset(ws: Workspace) -> Callable[[int, str], None]:
    """Nomad's ACL bootstrap reset (the reset index written into the leader's data dir) for
    the workspace's cluster, whatever made it: the provider module's own `acl_reset(ws)`
    (local agents: a file on this machine), else over SSH (AWS, hosts you already have)."""
    kind = found_kind(ws)
    module = importlib.import_module(MODULES[kind]) if kind in MODULES else None
    own = getattr(module, "acl_reset", None)
    if own is not None:
        return own(ws)
    return reset_acl_bootstrap(ws)


def restore_state(ws: Workspace) -> str | None:
    """A cluster whose state.json is gone but whose agents are found without it (local
    agents, from their directories): state.json rebuilt from them (the provider module's own
    `restore_state(ws)`), and what was done in one line; else None, and nothing written."""
    if ws.state_path.exists():
        return None
    kind = found_kind(ws)
    module = importlib.import_module(MODULES[kind]) if kind in MODULES else None
    own = getattr(module, "restore_state", None)
    return own(ws) if own is not None else None


def found_kind(ws: Workspace) -> str | None:
    """The recorded provider; when state.json is damaged or gone, "local" if the workspace
    holds local agents' directories (they are found without it), else None."""
    if ws.state_path.exists():
        state, damaged = ws.read_state()
        kind = state.get("provider") if damaged is None else None
        if kind in KINDS:
            return kind
        if damaged is None and kind is not None:
            return None
    local = ws.path / "local"
    with contextlib.suppress(OSError):
        if local.is_dir() and any(p.is_dir() for p in local.iterdir()):
            return "local"
    return None


def recorded(ws: Workspace) -> str | None:
    """The provider the workspace's cluster was made with, or None for a new cluster."""
    if not ws.state_path.exists():
        return None
    kind = ws.load_state().get("provider")
    return kind if kind in KINDS else None
