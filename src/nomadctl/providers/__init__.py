"""Where hosts come from: one module per kind of cluster, behind `providers.base`.

- `aws` (`aws_cluster.AwsProvider`): creates (and deletes) the cluster's EC2
  infrastructure, found by tags; the work itself is in `aws.py` and `aws_*.py`.
- `static` (`static.StaticProvider`): hosts you already have, over SSH.
- `local` (`local.LocalProvider`): agents as processes on this machine.

`recorded(ws)` names the provider a workspace was made with (state.json "provider") and
`for_down` makes that provider for `down`: each module's own `for_down(state, opts)`, so a new
provider is one more entry in `MODULES`. (`up` makes its provider from `up`'s options in
`plan.options`.) Provider modules import boto3 lazily (inside functions) so that
`nomadctl --help` stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from nomadctl.workspace import Workspace

MODULES = {
    "aws": "nomadctl.providers.aws_cluster",
    "static": "nomadctl.providers.static",
    "local": "nomadctl.providers.local",
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


def recorded(ws: Workspace) -> str | None:
    """The provider the workspace's cluster was made with, or None for a new cluster."""
    if not ws.state_path.exists():
        return None
    kind = ws.load_state().get("provider")
    return kind if kind in KINDS else None
