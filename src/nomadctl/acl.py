"""ACL bootstrap and the cluster's tokens.

Tokens live in the workspace (`tokens/management.json`, `tokens/user.json`, mode 0600) and
nowhere else: never on a node, never in a log. Bootstrapping happens once, from nomadctl, after
a leader exists, so there is no race between servers as in the seed's setup.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nomadctl.api import AclAlreadyBootstrapped, Api, ApiTarget, PermissionDenied
from nomadctl.errors import ClusterApiError, WorkspaceError
from nomadctl.workspace import Workspace

USER_POLICY = "node-read-job-submit"
USER_POLICY_RULES = """\
agent {
  policy = "read"
}

node {
  policy = "read"
}

namespace "*" {
  policy       = "read"
  capabilities = ["submit-job", "read-logs", "read-fs"]
}
"""

TOKEN_FIELDS = (
    ("Accessor ID", "AccessorID"),
    ("Secret ID", "SecretID"),
    ("Name", "Name"),
    ("Type", "Type"),
    ("Global", "Global"),
    ("Create Time", "CreateTime"),
    ("Expiry Time", "ExpirationTime"),
    ("Create Index", "CreateIndex"),
    ("Modify Index", "ModifyIndex"),
    ("Policies", "Policies"),
    ("Roles", "Roles"),
)


def token_path(ws: Workspace, kind: str) -> Path:
    return ws.path / "tokens" / f"{kind}.json"


def load_token(ws: Workspace, kind: str = "management") -> dict[str, Any] | None:
    path = token_path(ws, kind)
    if not path.exists():
        return None
    try:
        token = json.loads(ws.read_bytes(path))
    except ValueError:
        raise WorkspaceError(f"{path} is not valid JSON; remove it and see --reset") from None
    if not isinstance(token, dict) or not token.get("SecretID"):
        raise WorkspaceError(f"{path} holds no SecretID; remove it and see --reset")
    return token


def save_token(ws: Workspace, kind: str, token: dict[str, Any]) -> Path:
    path = token_path(ws, kind)
    ws.write_secret(path, json.dumps(token, indent=2).encode() + b"\n")
    return path


def token_rows(token: dict[str, Any], show_secret: bool) -> list[tuple[str, str]]:
    """The fields `nomad acl bootstrap` prints, in its order."""
    rows = []
    for label, key in TOKEN_FIELDS:
        value = token.get(key)
        if key == "SecretID" and not show_secret:
            value = "(hidden; --show-secret prints it)"
        elif key == "ExpirationTime" and not value:
            value = "<none>"
        elif isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            value = (
                ", ".join(v.get("Name", str(v)) if isinstance(v, dict) else str(v) for v in value)
                or "n/a"
            )
        elif value is None:
            value = "n/a"
        rows.append((label, str(value)))
    return rows


@dataclass
class BootstrapResult:
    status: str  # bootstrapped | already
    management: dict[str, Any]
    user: dict[str, Any] | None = None


def with_token(target: ApiTarget, secret: str) -> ApiTarget:
    return replace(target, token=secret or None)


def bootstrap(
    ws: Workspace,
    target: ApiTarget,
    *,
    user_token: bool = True,
    reset: Callable[[int, str], None] | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    leader_timeout: float = 120.0,
    cancel: threading.Event | None = None,
) -> BootstrapResult:
    """Bootstrap ACLs once; with a stored token, only check that it still works.

    `reset(index, leader_address)` performs Nomad's reset (writing the reset index on the
    leader) when the cluster was bootstrapped but the token is lost; None means "don't".
    """
    stored = load_token(ws)
    if stored is not None:
        try:
            Api(with_token(target, stored["SecretID"])).token_self()
        except PermissionDenied:
            raise ClusterApiError(
                f"the management token in {token_path(ws, 'management')} is not accepted by "
                "the cluster; move it away and run `nomadctl acl-bootstrap --reset`"
            ) from None
        result = BootstrapResult("already", stored, load_token(ws, "user"))
    else:
        result = BootstrapResult(
            "bootstrapped", _bootstrap(ws, target, reset, progress, leader_timeout, cancel)
        )
    if user_token and result.user is None:
        admin = Api(with_token(target, result.management["SecretID"]))
        admin.create_policy(
            USER_POLICY, "Read nodes and agents, submit jobs, read logs", USER_POLICY_RULES
        )
        result.user = admin.create_token(f"{ws.cluster}-user", [USER_POLICY])
        save_token(ws, "user", result.user)
        progress(f"user token with policy {USER_POLICY} saved")
    return result


def _bootstrap(
    ws: Workspace,
    target: ApiTarget,
    reset: Callable[[int, str], None] | None,
    progress: Callable[[str], None],
    leader_timeout: float,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    api = Api(with_token(target, ""))
    leader = api.wait_for_leader(leader_timeout, progress, cancel)
    try:
        token = api.bootstrap()
    except AclAlreadyBootstrapped as exc:
        if reset is None or exc.reset_index is None:
            raise ClusterApiError(
                "ACLs were already bootstrapped but this workspace has no management token "
                f"({exc.message}); if the token is lost, `nomadctl acl-bootstrap --reset` "
                "performs Nomad's reset on the leader and bootstraps again"
            ) from None
        progress(f"resetting ACL bootstrap on the leader {leader} (reset index {exc.reset_index})")
        reset(exc.reset_index, leader)
        token = api.bootstrap()
    save_token(ws, "management", token)
    progress("ACLs bootstrapped; management token saved")
    return token
