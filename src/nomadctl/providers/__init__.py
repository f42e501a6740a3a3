"""Where hosts come from: one module per kind of cluster, behind `providers.base`.

- `aws` (`aws_cluster.AwsProvider`): creates (and deletes) the cluster's EC2
  infrastructure, found by tags; the work itself is in `aws.py` and `aws_*.py`.
- `static` (`static.StaticProvider`): hosts you already have, over SSH.
- `local` (`local.LocalProvider`): agents as processes on this machine.

`recorded(ws)` names the provider a workspace was made with (state.json "provider").
Provider modules import boto3 lazily (inside functions) so that `nomadctl --help` stays fast.
"""

from __future__ import annotations

from nomadctl.workspace import Workspace

KINDS = ("aws", "static", "local")


def recorded(ws: Workspace) -> str | None:
    """The provider the workspace's cluster was made with, or None for a new cluster."""
    if not ws.state_path.exists():
        return None
    kind = ws.load_state().get("provider")
    return kind if kind in KINDS else None
