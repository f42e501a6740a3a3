"""ACL bootstrap and the cluster's tokens.

Tokens live in the workspace (`tokens/management.json`, `tokens/user.json`, mode 0600) and
nowhere else: never on a node, never in a log. Bootstrapping happens once, from nomadctl, after
a leader exists, so there is no race between servers as in the seed's setup.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from nomadctl import validate
from nomadctl.cluster.api import (
    AclAlreadyBootstrapped,
    Api,
    ApiTarget,
    NoLeader,
    PermissionDenied,
    Unreachable,
)
from nomadctl.errors import Cancelled, ClusterApiError, UsageError, WorkspaceError
from nomadctl.workspace import Workspace

T = TypeVar("T")
NO_LEADER_FIRST_DELAY = 0.1  # seconds before the first retry of a call that met no leader
NO_LEADER_MAX_DELAY = 2.0
# How long calls are retried while every server refuses or drops the connection (a TLS
# reload's new HTTP listener, a restart), counted from the first such failure.
TRANSIENT_FOR = 15.0
TRANSIENT_KINDS = frozenset({"refused", "closed"})

USER_POLICY = "node-read-job-submit"  # kept: re-running bootstrap narrows old clusters' policy
# What operating jobs needs, after Nomad's ACL guide (acl/policy.go names the capabilities):
# read jobs and scaling in the namespace, submit, dispatch and scale them, read allocation
# logs and files, stop and restart allocations; read nodes, which `nomad job status`,
# `nomad node status` and `nomad server members` (Status.Members: AllowNodeRead) need. No
# `agent` rules (agent config, members' keyring, joins), no `operator`, no `alloc-exec`, no
# `host-volume-*` or `csi-*` writes: the management token is there for those.
USER_NAMESPACE_CAPABILITIES = (
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-lifecycle",
    "scale-job",
)
NAMESPACE_RE = re.compile(r"^[a-zA-Z0-9-]{1,128}$")  # nomad/structs validNamespaceName


def user_policy_rules(namespaces: Sequence[str] = ("default",)) -> str:
    """The user token's policy: job operation in `namespaces` (only `default` unless asked)."""
    caps = ", ".join(f'"{c}"' for c in USER_NAMESPACE_CAPABILITIES)
    blocks = ['node {\n  policy = "read"\n}\n']
    for ns in namespaces:
        if not NAMESPACE_RE.fullmatch(ns):
            raise UsageError(f"namespace {ns!r}: use 1-128 letters, digits and '-' (Nomad's rule)")
        blocks.append(
            f'namespace "{ns}" {{\n  policy       = "read"\n  capabilities = [{caps}]\n}}\n'
        )
    return "\n".join(blocks)


USER_POLICY_RULES = user_policy_rules()


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
    """A stored token; refused if its file is readable by others or its secret no UUID."""

    path = token_path(ws, kind)
    if not path.exists():
        return None
    try:
        token = json.loads(ws.read_secret(path))
    except ValueError:
        raise WorkspaceError(f"{path} is not valid JSON; remove it and see --reset") from None
    if not isinstance(token, dict) or not isinstance(token.get("SecretID"), str):
        raise WorkspaceError(f"{path} holds no SecretID; remove it and see --reset")
    try:
        token["SecretID"] = validate.token(token["SecretID"], f"the SecretID in {path}")
    except UsageError as exc:
        raise WorkspaceError(exc.message) from None
    return token


def save_token(ws: Workspace, kind: str, token: dict[str, Any]) -> Path:
    path = token_path(ws, kind)
    ws.write_secret(path, json.dumps(token, indent=2).encode() + b"\n")
    return path


def forget_tokens(ws: Workspace) -> list[Path]:
    """Remove the cluster's ACL tokens once its agents (and their ACL state) are gone.

    A new cluster on the same workspace bootstraps its own ACLs; a stale management token
    would be refused by it and stop `up`. The CA, gossip key and certificates stay."""
    removed = []
    for kind in ("management", "user"):
        path = token_path(ws, kind)
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise WorkspaceError(f"cannot remove {path}: {exc.strerror}") from None
        removed.append(path)
    return removed


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
class _LeaderRetry:
    """Calls made while the cluster may be between leaders, or its servers between listeners.

    Right after a leader change (or an agent restart) a server answers "No cluster leader"
    until it hears from the new leader: Nomad's HTTP layer turns structs.ErrNoLeader into a
    500 with that text (nomad/command/agent/http.go, nomad/rpc.go forward()). Such a call was
    not applied, so it is safe to repeat; retried with backoff until `deadline`.

    A TLS reload closes a server's HTTP listener and opens a new one (command/agent/
    command.go reloadHTTPServer), and `up` sends the signal without waiting for it to be
    taken: for that moment, every server may refuse or reset the connection. Such a call is
    retried for TRANSIENT_FOR seconds when it reached no server (`Unreachable.unsent`), or
    with `replay` (a read, an upsert, a delete: a repeat ends as the first did) when it
    may have; never a bootstrap or a create."""

    deadline: float
    progress: Callable[[str], None]
    cancel: threading.Event
    transient_for: float = TRANSIENT_FOR  # 0: such failures are raised at once
    transient_until: float | None = None
    last_said: str = ""

    def __call__(self, fn: Callable[[], T], replay: bool = False) -> T:
        delay = NO_LEADER_FIRST_DELAY
        while True:
            try:
                return fn()
            except NoLeader as exc:
                if time.monotonic() + delay > self.deadline:
                    raise
                self.progress(f"{exc.message}; retrying")
            except Unreachable as exc:
                if not self._transient(exc, replay, delay):
                    raise
                if exc.message != self.last_said:  # said once, not at every retry
                    self.progress(f"{exc.message}; retrying")
                    self.last_said = exc.message
            if self.cancel.wait(delay):
                raise Cancelled("stopped waiting for a leader")
            delay = min(delay * 2, NO_LEADER_MAX_DELAY)

    def _transient(self, exc: Unreachable, replay: bool, delay: float) -> bool:
        if self.transient_for <= 0 or not exc.kinds <= TRANSIENT_KINDS:
            return False
        if not (exc.unsent or replay):
            return False
        now = time.monotonic()
        if self.transient_until is None:
            self.transient_until = min(now + self.transient_for, self.deadline)
        return now + delay <= self.transient_until


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
    namespaces: Sequence[str] = ("default",),
    reset: Callable[[int, str], None] | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    leader_timeout: float = 120.0,
    cancel: threading.Event | None = None,
    anonymous: Api | None = None,
    transient_for: float = 0.0,
) -> BootstrapResult:
    """Bootstrap ACLs once; with a stored token, only check that it still works.

    `target` must be the workspace's own cluster: the stored management token is sent to it.
    `reset(index, leader_address)` performs Nomad's reset (writing the reset index on the
    leader) when the cluster was bootstrapped but the token is lost or refused; None means
    "don't". The user token's policy is rewritten when its rules differ from today's, so a
    cluster bootstrapped by an older nomadctl gets the narrower ones.

    No secret exists only on the cluster: the management secret is chosen here and written
    to the workspace (marked pending) before the bootstrap request, so a run killed at any
    moment leaves the next one able to finish. Tokens nomadctl can no longer hold (an old
    bootstrap token after a reset, a user token created by a run that died before saving it)
    are revoked. `anonymous`: a client of `target` without a token (the leader wait's, its
    connection kept) for the bootstrap request. `transient_for`: how long calls that every
    server refused or reset are made again (`_LeaderRetry`); `up` gives TRANSIENT_FOR, since
    its own reloads cause them; by hand, the error comes at once.
    """
    rules = user_policy_rules(namespaces)  # a bad namespace fails before any call
    retry = _LeaderRetry(
        time.monotonic() + leader_timeout, progress, cancel or threading.Event(), transient_for
    )
    stored = load_token(ws)
    result: BootstrapResult | None = None
    if stored is not None and not stored.get(PENDING):
        try:
            retry(Api(with_token(target, stored["SecretID"])).token_self, replay=True)
        except PermissionDenied:
            if _rebootstrap(target, stored["SecretID"], retry):
                progress("a new cluster (its servers lost their data): ACLs bootstrapped with the "
                         "workspace's management token; `nomadctl snapshot restore` brings back "
                         "its state")  # fmt: skip
                result = BootstrapResult("bootstrapped", stored, load_token(ws, "user"))
            elif reset is None:
                raise ClusterApiError(
                    f"the management token in {token_path(ws, 'management')} is not accepted "
                    "by the cluster; `nomadctl acl-bootstrap --reset` performs Nomad's reset "
                    "on the leader and saves a new one"
                ) from None
            else:
                progress("the stored management token is not accepted; resetting")
                stored = None
        else:
            result = BootstrapResult("already", stored, load_token(ws, "user"))
    booted = None
    if result is None:
        booted = _bootstrap(
            ws, anonymous or Api(with_token(target, "")), reset, stored, progress,
            leader_timeout, retry,
        )  # fmt: skip
        result = BootstrapResult("bootstrapped", booted.token, load_token(ws, "user"))
    if user_token:
        admin = booted.admin if booted else Api(with_token(target, result.management["SecretID"]))
        # Just bootstrapped: no policy can exist yet (the write is an upsert either way);
        # otherwise a re-run writes nothing when the rules are today's.
        if booted or retry(lambda: admin.policy_rules(USER_POLICY), replay=True) != rules:
            description = "Operate jobs; read nodes (nomadctl)"
            retry(lambda: admin.create_policy(USER_POLICY, description, rules), replay=True)
        if result.user is not None and _held(target, result.user["SecretID"], retry) is None:
            # Deleted on the cluster, or past its ExpirationTime: the stored one is no use.
            progress("the stored user token is not accepted by the cluster; making a new one")
            result.user = None
        if result.user is None:
            listed = booted.tokens if booted else None
            result.user = _create_user_token(ws, admin, retry, progress, listed)
    return result


def _rebootstrap(target: ApiTarget, secret: str, retry: _LeaderRetry) -> bool:
    """A cluster that refuses the stored token may be a new one on the same workspace (every
    server lost its data dir): bootstrap it with that same secret (Nomad's BootstrapSecret),
    so the token in the workspace, and in any snapshot of the old cluster, works on it.
    False when its ACLs were bootstrapped already (the token is really not its)."""
    try:
        retry(lambda: Api(with_token(target, "")).bootstrap(secret))
    except AclAlreadyBootstrapped:
        return False
    return True


PENDING = "Pending"  # a management secret written ahead of its bootstrap request
BOOTSTRAP_NAME = "Bootstrap Token"  # nomad/acl_endpoint.go Bootstrap names every such token


def _bootstrap(
    ws: Workspace,
    api: Api,
    reset: Callable[[int, str], None] | None,
    pending: dict[str, Any] | None,
    progress: Callable[[str], None],
    leader_timeout: float,
    retry: _LeaderRetry,
) -> _Booted:
    """Bootstrap with a secret chosen and saved first.

    Nomad's ACL.Bootstrap (nomad/acl_endpoint.go, v1.10.5) takes the request's
    `BootstrapSecret` as the token's SecretID when it is a UUID (else 400 "invalid acl
    token"). The secret is written 0600 to the workspace before anything is sent: a workspace
    that cannot hold it fails here, with no request made. A secret still pending from a run
    that died after sending it is first tried on the cluster: if it works, that run's
    bootstrap went through and only the file is finished."""
    target = api.target
    if pending is None:
        secret = str(uuid.uuid4())
        save_token(ws, "management", {"SecretID": secret, "Name": BOOTSTRAP_NAME, PENDING: True})
    else:
        secret = pending["SecretID"]
    leader = api.wait_for_leader(leader_timeout, progress, retry.cancel)
    # A secret chosen just now cannot be on the cluster yet: only a pending one is asked for.
    token = _held(target, secret, retry) if pending is not None else None
    if token is None:
        try:
            token = _request(
                api, secret, reset, leader, progress, lambda: _held(target, secret, retry), retry
            )
        except AclAlreadyBootstrapped:
            _drop_unheld(ws, target, secret, retry)
            raise
        progress("ACLs bootstrapped; management token saved")
    else:
        progress("the ACL bootstrap of an interrupted run went through; management token saved")
    save_token(ws, "management", token)
    admin = Api(with_token(target, secret))
    tokens = retry(admin.tokens, replay=True)
    for old in tokens:  # Nomad's reset leaves the old bootstrap token valid
        if (old.get("Name"), old.get("Type")) == (BOOTSTRAP_NAME, "management") and old.get(
            "AccessorID"
        ) != token.get("AccessorID"):
            retry(lambda a=old["AccessorID"]: admin.delete_token(a), replay=True)
            progress(f"revoked the earlier bootstrap token {old['AccessorID'][:8]}")
    return _Booted(token, admin, tokens)


@dataclass
class _Booted:
    """What a bootstrap of this run learned: the token, a client holding it (its connection
    kept for the user token's calls) and the cluster's tokens listed just after."""

    token: dict[str, Any]
    admin: Api
    tokens: list[dict[str, Any]]


def _request(
    api: Api,
    secret: str,
    reset: Callable[[int, str], None] | None,
    leader: str,
    progress: Callable[[str], None],
    held: Callable[[], dict[str, Any] | None],
    retry: _LeaderRetry,
) -> dict[str, Any]:
    """The bootstrap request with `secret`; "already done" is either a retried request that
    went through (`held`), or with `reset` Nomad's reset then the request again, else an
    AclAlreadyBootstrapped that says what to do."""
    try:
        return retry(lambda: api.bootstrap(secret))
    except AclAlreadyBootstrapped as exc:
        token = held()
        if token is not None:
            return token
        if reset is None or exc.reset_index is None:
            raise AclAlreadyBootstrapped(
                "ACLs were already bootstrapped but this workspace has no management "
                f"token ({exc.message}); if the token is lost, `nomadctl acl-bootstrap "
                "--reset` performs Nomad's reset on the leader and bootstraps again",
                exc.reset_index,
            ) from None
        progress(f"resetting ACL bootstrap on the leader {leader} (index {exc.reset_index})")
        reset(exc.reset_index, leader)
        return retry(lambda: api.bootstrap(secret))


def _drop_unheld(ws: Workspace, target: ApiTarget, secret: str, retry: _LeaderRetry) -> None:
    """A bootstrap refused as "already done" (nomad/acl_endpoint.go ACL.Bootstrap, v1.10.5:
    CanBootstrapACLToken is false, so the bootstrap was done before, and no token was made
    from this request): the secret written ahead is no management token, and is not left in
    the workspace to be presented as one (`env --management`, the API commands). Dropped
    only when the cluster says it does not know it (token/self is ACL.WhoAmI, which the
    receiving server forwards to the leader unless a stale read is asked for, so the answer is
    the leader's), never when it may be valid, and only while the file still holds it
    pending."""
    try:
        current = load_token(ws)
    except WorkspaceError:
        return
    if current is None or current.get("SecretID") != secret or not current.get(PENDING):
        return
    try:
        if _held(target, secret, retry) is not None:
            return
    except ClusterApiError:
        return  # no answer: it may be valid; a re-run tries it again
    token_path(ws, "management").unlink(missing_ok=True)


def _held(target: ApiTarget, secret: str, retry: _LeaderRetry) -> dict[str, Any] | None:
    """The token whose SecretID is `secret`, if the cluster knows it (GET token/self)."""
    try:
        return retry(Api(with_token(target, secret)).token_self, replay=True)
    except PermissionDenied:
        return None


def _create_user_token(
    ws: Workspace,
    admin: Api,
    retry: _LeaderRetry,
    progress: Callable[[str], None],
    listed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Create and save the user token; first revoke any earlier one of the same name.

    Nomad chooses a new token's SecretID itself (structs.ACLToken.Canonicalize overwrites it
    when AccessorID is empty; an AccessorID given must exist: nomad/acl_endpoint.go
    UpsertTokens), so the secret cannot be written ahead. What a run killed between the
    create and the save left on the cluster, or a token whose file was lost, is found by its
    name and revoked: nomadctl never leaves a token valid that it does not hold."""
    name = f"{ws.cluster}-user"
    for old in (
        listed if listed is not None else retry(admin.tokens, replay=True)
    ):  # listed: just now
        if old.get("Name") == name and old.get("AccessorID"):
            retry(lambda a=old["AccessorID"]: admin.delete_token(a), replay=True)
            progress(
                f"revoked user token {old['AccessorID'][:8]}, which this workspace no longer holds"
            )
    token = retry(lambda: admin.create_token(name, [USER_POLICY]))
    save_token(ws, "user", token)
    progress(f"user token with policy {USER_POLICY} saved")
    return token
