"""The cluster's state.json as the commands see it: one typed reading, and the few changes
`down` makes to it, so no command reads or writes raw keys.

Shapes (all optional): `provider` ("aws" | "static" | "local"), `hosts` (Host records),
`configured` (node name -> bool), `leaving` (hosts a scale-in has not finished), `aws`
(IDs, `region`), `local` (addresses, binary), `nomad` (region, datacenter), `ssh`,
`bootstrap_expect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nomadctl.cluster import acl
from nomadctl.errors import WorkspaceError
from nomadctl.hosts import Host, hosts_of
from nomadctl.node.connect import forget_pins
from nomadctl.validate import AWS_REGION_RE, fits
from nomadctl.workspace import Workspace


@dataclass(frozen=True)
class ClusterState:
    provider: str | None = None
    hosts: list[Host] = field(default_factory=list)
    aws_region: str | None = None
    damaged: str | None = None  # why state.json could not be read (then the rest is empty)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def read(ws: Workspace) -> ClusterState:
    """The state, or an empty one naming why it is unreadable (a damaged file never stops
    `down`: AWS resources are found by tag)."""

    if not ws.state_path.exists():  # local agents are found from their directories
        return ClusterState("local" if _has_local_agents(ws) else None)
    raw, damaged = ws.read_state()
    if damaged is None:
        try:  # the parts the commands use must have their shapes
            region = recorded_region(raw)
            hosts = hosts_of(raw)
        except WorkspaceError as exc:
            damaged = f"{ws.state_path}: {exc.message}"
    if damaged is not None:
        return ClusterState("local" if _has_local_agents(ws) else None, damaged=damaged)
    return ClusterState(raw.get("provider"), hosts, region, None, raw)


def _has_local_agents(ws: Workspace) -> bool:
    """Does the workspace hold local agents' directories (`local/<node>/`)?"""
    local = ws.path / "local"
    try:
        return local.is_dir() and any(p.is_dir() for p in local.iterdir())
    except OSError:
        return False


def forget_aws_cluster(ws: Workspace, region: str, destroyed: bool) -> None:
    """After an AWS `down`: forget the hosts (their pins), the agents' ACL tokens and the
    IDs; keep the CA and the region (a second `down`, and the next `up`, find it)."""
    current = read(ws)
    if current.damaged is not None or current.aws_region not in (None, region):
        return  # the workspace's cluster lives elsewhere
    state = current.raw
    forget_pins(ws, current.hosts)
    if destroyed or current.provider == "aws":
        acl.forget_tokens(ws)
    for key in ("hosts", "provider", "configured", "leaving", "spec", "api_endpoint"):
        state.pop(key, None)
    state["aws"] = {"region": region}
    ws.save_state(state)


def set_aside_damaged(ws: Workspace) -> str:
    """A damaged state of a cluster `down` just deleted: moved out of the way, kept for a
    look; the agents' tokens go with it."""
    aside = ws.state_path.with_name("state.json.damaged")
    ws.state_path.replace(aside)
    acl.forget_tokens(ws)
    return str(aside)


def drop_hosts(ws: Workspace, gone: set[str]) -> list[Host]:
    """Hosts you keep that `down` cleaned (or skipped for good): out of the state. Returns
    the hosts left; with no server left the ACL tokens go too (a new `up` bootstraps).
    `provider` stays, so a second `down` is a no-op."""
    state = ws.load_state()
    left = [h for h in hosts_of(state) if h.name not in gone]
    if left:
        state["hosts"] = [h.to_dict() for h in left]
        configured = dict(state.get("configured") or {})
        state["configured"] = {k: v for k, v in configured.items() if k not in gone}
    else:
        for key in ("hosts", "configured", "spec"):
            state.pop(key, None)
    ws.save_state(state)
    if not any(h.role == "server" for h in left):
        acl.forget_tokens(ws)
    return left


def recorded_region(state: dict[str, Any]) -> str | None:
    """state.json's aws.region; WorkspaceError when the state has the wrong shape."""
    section = state.get("aws")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise WorkspaceError(f"its 'aws' is a {type(section).__name__}, not an object")
    region = section.get("region")
    if region is not None and not (isinstance(region, str) and fits(AWS_REGION_RE, region)):
        raise WorkspaceError(f"its aws.region {region!r} is not an AWS region")
    return region or None
