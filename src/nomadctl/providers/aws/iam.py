"""The nodes' IAM role and instance profile, for Nomad's cloud auto-join.

One role and one instance profile, both `nomadctl-<cluster>-node` under the path `/nomadctl/`,
tagged with the cluster and its region (IAM is global: a same-named cluster in another region
is refused rather than shared). The role's only permission is `ec2:DescribeInstances`, which is
all go-discover's AWS provider calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nomadctl.errors import CloudError
from nomadctl.providers.aws.common import (
    IAM_PATH,
    TAG_CLUSTER,
    TAG_REGION,
    Run,
    Teardown,
    gone_ok,
    iam_name,
    settle,
    tag_dict,
    tags,
)
from nomadctl.providers.aws.errors import error_code

POLICY_NAME = "nomad-cloud-auto-join"
# "Changes that I make are not always immediately visible" (IAM User Guide); terraform-provider-
# aws's iamPropagationTimeout is 2 minutes.
IAM_PROPAGATION_WAIT = 120.0
POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "NomadCloudAutoJoin",
            "Effect": "Allow",
            "Action": "ec2:DescribeInstances",
            "Resource": "*",
        }
    ],
}
TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _get(call: Any, key: str, **kwargs: Any) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(call(**kwargs)[key])
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def _check_owner(run: Run, kind: str, name: str, resource_tags: list[dict[str, str]]) -> None:
    found = tag_dict(resource_tags)
    if found.get(TAG_CLUSTER) != run.cluster:
        raise CloudError(
            f"IAM {kind} {name} exists but was not made by nomadctl for cluster "
            f"{run.cluster!r}; choose another --cluster name or delete that {kind}"
        )
    if found.get(TAG_REGION, run.aws.region) != run.aws.region:
        raise CloudError(
            f"cluster name {run.cluster!r} is already used in region {found[TAG_REGION]} "
            f"(IAM {kind} {name} is global); choose another --cluster name"
        )


def _same_policy(document: Any) -> bool:
    if isinstance(document, str):
        from urllib.parse import unquote

        document = json.loads(unquote(document))
    return bool(document == POLICY)


def ensure_instance_profile(run: Run) -> str | None:
    """The profile's name, with the role inside it and the role's one policy in place."""
    iam = run.aws.iam
    name = iam_name(run.cluster)
    iam_tags = tags(run.cluster, name, **{TAG_REGION: run.aws.region})

    role = _get(iam.get_role, "Role", RoleName=name)
    if role is not None:
        _check_owner(run, "role", name, role.get("Tags", []))
    profile = _get(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
    if profile is not None:
        _check_owner(run, "instance profile", name, profile.get("Tags", []))

    if role is None:
        if run.dry_run:
            run.would_create("iam-role", name, "may only call ec2:DescribeInstances")
        else:
            role = _create_role(run, name, "Nomad cloud auto-join", iam_tags)
            run.record({"role_name": name})
            settle(  # IAM is eventually consistent: a new role may be NoSuchEntity a moment
                iam.put_role_policy,
                RoleName=name,
                PolicyName=POLICY_NAME,
                PolicyDocument=json.dumps(POLICY),
                timeout=IAM_PROPAGATION_WAIT,
                progress=run.progress,
                what=f"the new IAM role {name} to propagate",
            )
            run.created("iam-role", name, role.get("RoleId", name), "ec2:DescribeInstances only")
    else:
        run.record({"role_name": name})
        policy = _get(iam.get_role_policy, "PolicyDocument", RoleName=name, PolicyName=POLICY_NAME)
        if policy is None or not _same_policy(policy):
            if not run.dry_run:
                iam.put_role_policy(
                    RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(POLICY)
                )
            run.changed("iam-role", name, role.get("RoleId"), "policy: ec2:DescribeInstances")
        else:
            run.found("iam-role", name, role.get("RoleId"), "ec2:DescribeInstances only")

    if profile is None:
        if run.dry_run:
            run.would_create("instance-profile", name, f"with role {name}")
            return None
        profile = _create_profile(run, name, iam_tags)
        run.record({"profile_name": name})
        _add_role(iam, name, run.progress)
        run.created("instance-profile", name, profile.get("InstanceProfileId", name))
        return name
    run.record({"profile_name": name})
    roles = [r["RoleName"] for r in profile.get("Roles", [])]
    if name not in roles:
        if not run.dry_run:
            for other in roles:  # a profile holds at most one role
                iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=other)
            _add_role(iam, name, run.progress)
        run.changed("instance-profile", name, profile.get("InstanceProfileId"), f"role {name}")
    else:
        run.found("instance-profile", name, profile.get("InstanceProfileId"), f"role {name}")
    return name


def _create_role(
    run: Run, name: str, purpose: str, iam_tags: list[dict[str, str]]
) -> dict[str, Any]:
    """The role `name`, made (a lost answer's retry adopts it when it is ours: `_create`)."""
    iam = run.aws.iam
    return _create(
        run,
        "role",
        lambda: iam.create_role(
            RoleName=name,
            Path=IAM_PATH,
            AssumeRolePolicyDocument=json.dumps(TRUST),
            Description=f"nomadctl cluster {run.cluster}: {purpose}",
            Tags=iam_tags,
        )["Role"],
        lambda: _get(iam.get_role, "Role", RoleName=name),
        name,
    )


def _create_profile(run: Run, name: str, iam_tags: list[dict[str, str]]) -> dict[str, Any]:
    """The instance profile `name`, made as `_create_role` makes a role."""
    iam = run.aws.iam
    return _create(
        run,
        "instance profile",
        lambda: iam.create_instance_profile(InstanceProfileName=name, Path=IAM_PATH, Tags=iam_tags)[
            "InstanceProfile"
        ],
        lambda: _get(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name),
        name,
    )


def _create(
    run: Run,
    kind: str,
    create: Callable[[], dict[str, Any]],
    get: Callable[[], Any],
    name: str | None = None,
) -> dict[str, Any]:
    """Create a named IAM entity. A retry whose first attempt went through but lost its answer
    (botocore retries a reset connection) meets EntityAlreadyExists: the entity is ours when it
    carries this cluster's tags (`_check_owner`), and `up` carries on with it."""
    from botocore.exceptions import ClientError

    try:
        return create()
    except ClientError as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
    name = name or iam_name(run.cluster)
    found = get()
    if found is None:  # deleted in between: nothing of ours to carry on with
        raise CloudError(f"IAM {kind} {name} vanished while it was created")
    _check_owner(run, kind, name, found.get("Tags", []))
    return dict(found)


def client_iam_name(cluster: str) -> str:
    """`--client-instance-profile`: the clients' own role and profile (no permissions)."""
    return f"nomadctl-{cluster}-client"


def ensure_client_profile(run: Run) -> str:
    """The clients' own role and instance profile, with no permission at all: a place for the
    user to attach what their jobs need, apart from the servers' auto-join. Its name (also in
    a dry run, where nothing is made)."""
    iam = run.aws.iam
    name = client_iam_name(run.cluster)
    iam_tags = tags(run.cluster, name, **{TAG_REGION: run.aws.region})
    role = _get(iam.get_role, "Role", RoleName=name)
    profile = _get(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
    for kind, found in (("role", role), ("instance profile", profile)):
        if found is not None:
            _check_owner(run, kind, name, found.get("Tags", []))
    if role is None and run.dry_run:
        run.would_create("iam-role", name, "clients' own: no permissions")
    elif role is None:
        role = _create_role(run, name, "clients (no permissions)", iam_tags)
        run.created("iam-role", name, role.get("RoleId", name), "no permissions")
    else:
        run.found("iam-role", name, role.get("RoleId"), "clients' own")
    if profile is None and run.dry_run:
        run.would_create("instance-profile", name, f"with role {name}")
    elif profile is None:
        profile = _create_profile(run, name, iam_tags)
        _add_role(iam, name, run.progress)
        run.created("instance-profile", name, profile.get("InstanceProfileId", name))
    elif name not in [r["RoleName"] for r in profile.get("Roles", [])]:
        if not run.dry_run:
            _add_role(iam, name, run.progress)
        run.changed("instance-profile", name, profile.get("InstanceProfileId"), f"role {name}")
    else:
        run.found("instance-profile", name, profile.get("InstanceProfileId"), f"role {name}")
    return name


def _add_role(iam: Any, name: str, progress: Any = None) -> None:
    """terraform-provider-aws (instanceProfileAddRole) retries NoSuchEntity here: a role or
    profile made a moment ago may not be visible to IAM itself yet. A profile holds one role
    (IAM answers LimitExceeded for a second): after a lost answer, a retry meets it, and the
    role already in the profile is the one asked for."""
    from botocore.exceptions import ClientError

    try:
        settle(
            iam.add_role_to_instance_profile,
            InstanceProfileName=name,
            RoleName=name,
            timeout=IAM_PROPAGATION_WAIT,
            progress=progress,
            what=f"the new instance profile {name} to propagate in IAM",
        )
    except ClientError as exc:
        if error_code(exc) != "LimitExceeded":
            raise
        profile = _get(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
        roles = [r["RoleName"] for r in (profile or {}).get("Roles", [])]
        if roles != [name]:
            raise CloudError(
                f"IAM instance profile {name} holds role {', '.join(roles) or '(none)'}, not {name}"
            ) from None


def destroy_instance_profile(down: Teardown) -> None:
    """The profiles, then the roles (their inline policies first); only when tagged as ours:
    the servers' (auto-join) and, when `--client-instance-profile` made them, the clients'."""
    for name in (iam_name(down.cluster), client_iam_name(down.cluster)):
        _destroy_pair(down, name)


def _destroy_pair(down: Teardown, name: str) -> None:
    iam = down.aws.iam

    def ours(resource_tags: list[dict[str, str]]) -> bool:
        found = tag_dict(resource_tags)
        return (
            found.get(TAG_CLUSTER) == down.cluster
            and found.get(TAG_REGION, down.aws.region) == down.aws.region
        )

    profile = _get(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
    if profile is not None and ours(profile.get("Tags", [])):

        def empty_profile() -> None:  # re-read on every attempt: IAM lists lag behind
            current = _get(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
            for role in (current or {}).get("Roles", []):
                gone_ok(
                    iam.remove_role_from_instance_profile,
                    InstanceProfileName=name,
                    RoleName=role["RoleName"],
                )

        down.delete(
            "instance-profile",
            name,
            profile.get("InstanceProfileId", name),
            lambda: iam.delete_instance_profile(InstanceProfileName=name),
            prepare=empty_profile,
            drain=True,
        )
    role = _get(iam.get_role, "Role", RoleName=name)
    if role is not None and ours(role.get("Tags", [])):

        def empty_role() -> None:
            # A policy or profile just deleted may still be listed (IAM's reads are eventually
            # consistent): its NoSuchEntity is that step done, not the role gone.
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                gone_ok(iam.delete_role_policy, RoleName=name, PolicyName=policy)
            for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                gone_ok(iam.detach_role_policy, RoleName=name, PolicyArn=policy["PolicyArn"])
            for prof in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
                gone_ok(
                    iam.remove_role_from_instance_profile,
                    InstanceProfileName=prof["InstanceProfileName"],
                    RoleName=name,
                )

        # DeleteConflict while the removals propagate is retried (terraform's deleteRole too).
        down.delete(
            "iam-role",
            name,
            role.get("RoleId", name),
            lambda: iam.delete_role(RoleName=name),
            prepare=empty_role,
            drain=True,
        )
