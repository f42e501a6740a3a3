"""Names, tags and records shared by the AWS modules.

Every resource nomadctl makes carries `nomadctl:cluster=<cluster>`: that tag is how `up`
finds what exists (so a re-run converges) and how `down` and `list` work without any local
state. Resources with fixed names (key pair, IAM role and instance profile) are also checked
for that tag, so a name taken by something else is never adopted or deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from nomadctl.errors import CloudError
from nomadctl.providers.aws_session import Aws

TAG_CLUSTER = "nomadctl:cluster"
TAG_ROLE = "nomadctl:role"
TAG_AUTO_JOIN = "nomadctl:auto-join"  # servers only; Nomad's cloud auto-join filters on it
TAG_REGION = "nomadctl:region"  # on IAM resources, which are global
IAM_PATH = "/nomadctl/"

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]


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


def is_not_found(exc: BaseException) -> bool:
    from nomadctl.providers.aws_errors import error_code

    code = error_code(exc)
    return code.endswith(".NotFound") or code in ("NoSuchEntity", "NotFound")


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
        self, kind: str, name: str, rid: str, action: Callable[[], Any], *, drain: bool = False
    ) -> bool:
        """Run `action` (the delete call); with `drain`, retry while AWS reports dependencies.

        Failures are recorded, not raised, so `down` deletes everything else it can.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        from nomadctl.providers.aws_errors import (
            error_code,
            from_botocore_error,
            from_client_error,
        )
        from nomadctl.providers.aws_session import poll

        if self.dry_run:
            self.resources.append(Resource(kind, name, rid, "delete"))
            return True
        self.progress(f"deleting {kind} {name} ({rid})")

        def once() -> bool | None:
            try:
                action()
            except ClientError as exc:
                if is_not_found(exc):
                    return True
                if drain and error_code(exc) in ("DependencyViolation", "ResourceInUse"):
                    self.progress(f"{kind} {rid} still in use; waiting")
                    return None
                raise
            return True

        try:
            poll(once, what=f"{kind} {rid} to be free", timeout=self.dependency_timeout)
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
