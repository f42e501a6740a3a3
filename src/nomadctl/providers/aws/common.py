"""Names, tags and records shared by the AWS modules.

Every resource nomadctl makes carries `nomadctl:cluster=<cluster>`: that tag is how `up`
finds what exists (so a re-run converges) and how `down` and `list` work without any local
state. Resources with fixed names (key pair, IAM role and instance profile) are also checked
for that tag, so a name taken by something else is never adopted or deleted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from nomadctl.errors import CloudError
from nomadctl.providers.aws.errors import error_code, from_botocore_error, from_client_error
from nomadctl.providers.aws.session import Aws, poll

TAG_CLUSTER = "nomadctl:cluster"
TAG_ROLE = "nomadctl:role"
TAG_AUTO_JOIN = "nomadctl:auto-join"  # servers only; Nomad's cloud auto-join filters on it
TAG_REGION = "nomadctl:region"  # on IAM resources, which are global
IAM_PATH = "/nomadctl/"

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]

# EC2 is eventually consistent: an ID a create just returned may be NotFound to the next calls
# for a while ("Eventual consistency in the Amazon EC2 API", EC2 API Reference; terraform-provider-
# aws retries such reads for up to ec2PropagationTimeout = 5 min). Bounded, with backoff.
NOT_VISIBLE_WAIT = 120.0
RECORDED_WAIT = 15.0  # an ID from state.json that stays NotFound this long is gone

T = TypeVar("T")


# ---- names -----------------------------------------------------------------------------------


def key_pair_name(cluster: str) -> str:
    return f"nomadctl-{cluster}"


def iam_name(cluster: str) -> str:
    """Role and instance profile share this name."""
    return f"nomadctl-{cluster}-node"


def sg_name(cluster: str) -> str:
    return f"nomadctl-{cluster}"


def clients_sg_name(cluster: str) -> str:
    return f"nomadctl-{cluster}-clients"


def instance_name(cluster: str, role: str, index: int) -> str:
    return f"{cluster}-{role}-{index}"


def auto_join_value(cluster: str, sg_id: str) -> str:
    """Unique to this incarnation of the cluster: two clusters never join each other."""
    return f"{cluster}-{sg_id}"


def client_token(*parts: str) -> str:
    """A deterministic EC2 idempotency token (<= 64 ASCII characters)."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]
    return f"nomadctl-{digest}"


def request_digest(request: dict[str, Any]) -> str:
    """What a request is: its parameters, canonical, so a changed request gets a new token."""
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:32]


# ---- tags ------------------------------------------------------------------------------------


def tags(cluster: str, name: str | None = None, **extra: str) -> list[dict[str, str]]:
    out = [{"Key": TAG_CLUSTER, "Value": cluster}]
    if name:
        out.append({"Key": "Name", "Value": name})
    out += [{"Key": k, "Value": v} for k, v in extra.items()]
    return out


def tag_spec(resource_type: str, tag_list: list[dict[str, str]]) -> dict[str, Any]:
    return {"ResourceType": resource_type, "Tags": tag_list}


def tag_dict(tag_list: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or ()}


def cluster_filter(cluster: str) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]}]


# ---- records ---------------------------------------------------------------------------------


@dataclass
class Resource:
    """One AWS resource and what `up`/`down` did (or would do) with it."""

    kind: str  # vpc, subnet, internet-gateway, route-table, security-group, key-pair, ...
    name: str
    id: str | None = None
    status: str = "kept"  # created kept updated started | create exists update | deleted failed
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Run:
    """What one `up` (or `up --dry-run`) works with and reports into."""

    aws: Aws
    cluster: str
    progress: Callable[[str], None]
    record: Callable[[dict[str, Any]], None]  # merge into state["aws"] at once
    dry_run: bool = False
    resources: list[Resource] = field(default_factory=list)

    def found(self, kind: str, name: str, rid: str | None, detail: str = "") -> str | None:
        status = "exists" if self.dry_run else "kept"
        self.resources.append(Resource(kind, name, rid, status, detail))
        return rid

    def created(self, kind: str, name: str, rid: str, detail: str = "") -> str:
        self.resources.append(Resource(kind, name, rid, "created", detail))
        self.progress(f"created {kind} {name} ({rid})")
        return rid

    def would_create(self, kind: str, name: str, detail: str = "") -> None:
        self.resources.append(Resource(kind, name, None, "create", detail))

    def changed(self, kind: str, name: str, rid: str | None, detail: str) -> None:
        status = "update" if self.dry_run else "updated"
        self.resources.append(Resource(kind, name, rid, status, detail))
        if not self.dry_run:
            self.progress(f"updated {kind} {name}: {detail}")


# ---- deletion ----------------------------------------------------------------------------


def find_instances(aws: Aws, cluster: str, states: list[str] | None = None) -> list[dict[str, Any]]:
    filters = [
        *cluster_filter(cluster),
        {"Name": "instance-state-name", "Values": states or LIVE_INSTANCE_STATES},
    ]
    out: list[dict[str, Any]] = []
    for page in aws.ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            out.extend(reservation["Instances"])
    return out


def is_not_found(exc: BaseException) -> bool:
    code = error_code(exc)
    return code.endswith(".NotFound") or code in ("NoSuchEntity", "NotFound")


def settle(
    call: Callable[..., T],
    /,
    *args: Any,
    timeout: float = NOT_VISIBLE_WAIT,
    retry: Callable[[BaseException], bool] = is_not_found,
    progress: Callable[[str], None] | None = None,
    what: str = "",
    **kwargs: Any,
) -> T:
    """`call(*args, **kwargs)`, retried with backoff while `retry(error)` (by default: an ID a
    create just returned is not visible yet). Bounded: the last error is raised at the end.
    With `progress`, a retry that lasts says what it waits for (`what`) and how long so far."""
    from botocore.exceptions import ClientError

    started = time.monotonic()
    deadline = started + timeout
    delay, shown_at = 0.1, started - 8.0  # the first line after ~2 s, then every 10 s
    while True:
        try:
            return call(*args, **kwargs)
        except ClientError as exc:
            if not retry(exc) or time.monotonic() + delay > deadline:
                raise
            now = time.monotonic()
            if progress is not None and now - shown_at >= 10.0:
                progress(
                    f"waiting for {what or 'AWS'} ({now - started:.0f}s so far, at most "
                    f"{timeout:.0f}s): {exc.response.get('Error', {}).get('Code', 'retrying')}"
                )
                shown_at = now
        time.sleep(delay)
        delay = min(delay * 1.6, 5.0)


def recorded(call: Callable[[], T | None], timeout: float = RECORDED_WAIT) -> T | None:
    """A resource whose ID state.json holds: `call()` (a describe by ID), or None once NotFound
    has lasted `timeout` (a just-created ID is NotFound for a while, a deleted one for ever)."""
    from botocore.exceptions import ClientError

    try:
        return settle(call, timeout=timeout)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def gone_ok(call: Callable[..., Any], /, *, also: tuple[str, ...] = (), **kwargs: Any) -> None:
    """A detaching step (inside a delete's `prepare`) whose target is already gone is done."""
    from botocore.exceptions import ClientError

    try:
        call(**kwargs)
    except ClientError as exc:
        if not (is_not_found(exc) or error_code(exc) in also):
            raise


DRAIN_CODES = {"DependencyViolation", "ResourceInUse", "DeleteConflict"}


@dataclass
class Teardown:
    """What one `down` deleted, or could not delete and why."""

    aws: Aws
    cluster: str
    progress: Callable[[str], None]
    dry_run: bool = False
    dependency_timeout: float = 300.0  # network interfaces of terminated instances drain slowly
    resources: list[Resource] = field(default_factory=list)

    def delete(
        self,
        kind: str,
        name: str,
        rid: str,
        action: Callable[[], Any],
        *,
        prepare: Callable[[], Any] | None = None,
        drain: bool = False,
    ) -> bool:
        """`prepare()` (detach what holds the resource, re-reading it on every attempt), then
        `action()`, the resource's own delete call.

        Only a NotFound from `action` means the resource is gone; a NotFound inside `prepare`
        is a dependency already gone (or not visible yet), and the attempt goes on. With
        `drain`, DependencyViolation / ResourceInUse / DeleteConflict are retried with backoff
        (ENIs of terminated instances detach slowly, IAM propagates slowly), bounded.
        Failures are recorded, not raised, so `down` deletes everything else it can.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        if self.dry_run:
            self.resources.append(Resource(kind, name, rid, "delete"))
            return True
        self.progress(f"deleting {kind} {name} ({rid})")

        def busy(exc: ClientError) -> bool:
            if drain and error_code(exc) in DRAIN_CODES:
                self.progress(f"{kind} {rid} still in use ({error_code(exc)}); waiting")
                return True
            return False

        def once() -> bool | None:
            if prepare is not None:
                try:
                    prepare()
                except ClientError as exc:
                    if busy(exc):
                        return None
                    if not is_not_found(exc):
                        raise
            try:
                action()
            except ClientError as exc:
                if is_not_found(exc):
                    return True
                if busy(exc):
                    return None
                raise
            return True

        try:
            poll(
                once,
                what=f"{kind} {rid} to be free",
                timeout=self.dependency_timeout,
                first_delay=0.2,
            )
        except ClientError as exc:
            error = from_client_error(exc, self.aws).message
            self.resources.append(Resource(kind, name, rid, "failed", error))
            return False
        except BotoCoreError as exc:
            error = from_botocore_error(exc, self.aws).message
            self.resources.append(Resource(kind, name, rid, "failed", error))
            return False
        except CloudError as exc:  # the dependency wait timed out
            self.resources.append(Resource(kind, name, rid, "failed", exc.message))
            return False
        self.resources.append(Resource(kind, name, rid, "deleted"))
        return True

    @property
    def failed(self) -> list[Resource]:
        return [r for r in self.resources if r.status == "failed"]
