"""One RunInstances call, made safe to repeat: the request, its ClientToken, its retries.

The token says what the request is: a digest of the cluster, the node's name, every parameter
of the request and a generation ("Ensuring idempotency in Amazon EC2 API requests", EC2 API
Reference). A retried launch (lost answer, interrupted `up`, a re-run seconds later whose tag
search does not list the new instance yet) sends the same token and EC2 answers with the
original reservation. A changed request (instance type, AMI, volume size, groups...) has
another digest, so it never meets IdempotentParameterMismatch. After
IdempotentInstanceTerminated the next generation is used, but only once describing the name
(by the recorded ID and by tag) shows that nothing live holds it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from nomadctl.errors import CloudError
from nomadctl.hosts import Role
from nomadctl.providers.aws.common import (
    LIVE_INSTANCE_STATES,
    NOT_VISIBLE_WAIT,
    TAG_ROLE,
    Run,
    client_token,
    find_instances,
    is_not_found,
    request_digest,
    tag_dict,
    tag_spec,
    tags,
)
from nomadctl.providers.aws.costs import BURSTABLE
from nomadctl.providers.aws.errors import CAPACITY_CODES, error_code, error_message
from nomadctl.providers.aws.images import Image

# IAM is eventually consistent: EC2 may call a new profile "invalid", or "has no associated IAM
# Roles" after its role was added, for a while (terraform-provider-aws retries both messages
# for iamPropagationTimeout = 2 minutes; kops quotes the second).
PROFILE_WAIT = 120.0
PROFILE_NOT_READY = ("Invalid IAM Instance Profile", "has no associated IAM Roles")
MAX_GENERATIONS = 20


def name_of(instance: dict[str, Any]) -> str:
    return tag_dict(instance.get("Tags")).get("Name", instance["InstanceId"])


@dataclass(frozen=True)
class LaunchSpec:
    role: Role
    count: int
    instance_type: str
    image: Image | None  # None in a dry run that could not resolve it
    root_volume_size: int
    cpu_credits: str = "standard"  # burstable types (T2/T3/T3a/T4g) only


@dataclass
class Placement:
    subnet_id: str | None
    availability_zone: str | None
    sg_id: str | None
    clients_sg_id: str | None
    key_name: str
    profile_name: str | None  # servers only: Nomad's cloud auto-join (ec2:DescribeInstances)
    auto_join: dict[str, str] = field(default_factory=dict)  # tag_key, tag_value
    public_ip_on_launch: bool = True  # the subnet maps one; else ask for one on the interface
    public_ip: bool = True  # False: no public IPv4 at all (a private subnet, --no-public-ip)
    client_profile_name: str | None = None  # --client-instance-profile: clients' own, empty
    # (subnet ID, zone) per zone: node N of a role goes to the ((N - 1) mod zones)-th, so the
    # servers are one per zone and the clients spread the same way; empty: subnet_id
    subnets: tuple[tuple[str, str], ...] = ()

    def for_node(self, name: str) -> Placement:
        """Where the node called `name` (`<cluster>-<role>-<N>`) is launched."""
        tail = name.rsplit("-", 1)[-1]
        if not self.subnets or not tail.isdigit():
            return self
        subnet_id, zone = self.subnets[(int(tail) - 1) % len(self.subnets)]
        return replace(self, subnet_id=subnet_id, availability_zone=zone)


def instance_tags(run: Run, spec: LaunchSpec, name: str, where: Placement) -> list[dict[str, str]]:
    extra = {TAG_ROLE: spec.role}
    if spec.role == "server" and where.auto_join:
        extra[where.auto_join["tag_key"]] = where.auto_join["tag_value"]
    return tags(run.cluster, name, **extra)


def _request(run: Run, spec: LaunchSpec, name: str, where: Placement) -> dict[str, Any]:
    assert spec.image is not None and where.subnet_id and where.sg_id
    groups = [where.sg_id]
    if spec.role == "client" and where.clients_sg_id:
        groups.append(where.clients_sg_id)
    volume_tags = tags(run.cluster, f"{name}-root", **{TAG_ROLE: spec.role})
    request: dict[str, Any] = {
        "ImageId": spec.image.id,
        "InstanceType": spec.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": where.key_name,
        "MetadataOptions": {
            "HttpTokens": "required",  # IMDSv2 only
            "HttpEndpoint": "enabled",  # Nomad's auto-join reads the region from it
            "HttpPutResponseHopLimit": 1,  # containers cannot reach it through the host
            "InstanceMetadataTags": "disabled",
        },
        "BlockDeviceMappings": [
            {
                "DeviceName": spec.image.root_device,
                "Ebs": {
                    "VolumeSize": spec.root_volume_size,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        "TagSpecifications": [
            tag_spec("instance", instance_tags(run, spec, name, where)),
            tag_spec("volume", volume_tags),
        ],
    }
    if where.public_ip and where.public_ip_on_launch:
        request["SubnetId"] = where.subnet_id
        request["SecurityGroupIds"] = groups
    else:  # say on the interface whether it gets a public IPv4 (the subnet's default aside)
        request["NetworkInterfaces"] = [
            {
                "DeviceIndex": 0,
                "SubnetId": where.subnet_id,
                "Groups": groups,
                "AssociatePublicIpAddress": where.public_ip,
                "DeleteOnTermination": True,
            }
        ]
    if spec.instance_type.startswith(BURSTABLE):
        # T3/T3a/T4g launch "unlimited" unless asked otherwise (T2: standard), and unlimited
        # bills surplus credits ("Unlimited mode for burstable performance instances", EC2
        # User Guide; RunInstances `CreditSpecification.CpuCredits`): ask for the mode meant.
        request["CreditSpecification"] = {"CpuCredits": spec.cpu_credits}
    profile = where.profile_name if spec.role == "server" else where.client_profile_name
    if profile:  # clients call no AWS API: none, or their own empty one when asked
        request["IamInstanceProfile"] = {"Name": profile}
    return request


def launch(
    run: Run,
    spec: LaunchSpec,
    name: str,
    where: Placement,
    instances: dict[str, Any],
    generations: dict[str, int],
) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    ec2 = run.aws.ec2
    where = where.for_node(name)
    request = _request(run, spec, name, where)
    digest = request_digest(request)
    profile_deadline = time.monotonic() + PROFILE_WAIT
    visible_deadline = time.monotonic() + NOT_VISIBLE_WAIT
    delay = 0.1
    run.progress(f"launching {name} ({spec.instance_type})")
    while True:
        generation = generations.get(name, 0)
        token = client_token(run.cluster, name, digest, str(generation))
        try:
            return dict(ec2.run_instances(ClientToken=token, **request)["Instances"][0])
        except ClientError as exc:
            code, message = error_code(exc), error_message(exc)
            now = time.monotonic()
            if code == "InvalidParameterValue" and any(m in message for m in PROFILE_NOT_READY):
                if now + delay >= profile_deadline:
                    raise
                run.progress(
                    "waiting for the IAM instance profile to be visible to EC2 "
                    f"({now - profile_deadline + PROFILE_WAIT:.0f}s so far, at most "
                    f"{PROFILE_WAIT:.0f}s); retrying {name}"
                )
            elif is_not_found(exc):  # the subnet or a group made a moment ago
                if now + delay >= visible_deadline:
                    raise
            elif code == "IdempotentInstanceTerminated" and generation < MAX_GENERATIONS:
                holder = _holder(run, name, instances)
                if holder is not None:
                    return holder
                generations[name] = generation + 1  # nothing live holds the name
                run.record({"generations": generations})
                run.progress(f"{name}'s earlier instance was terminated; launching a new one")
                continue
            elif code in CAPACITY_CODES:
                raise CloudError(_no_capacity(spec, name, where, instances, code)) from None
            else:
                raise
        time.sleep(delay)
        delay = min(delay * 1.6, 5.0)


def _no_capacity(
    spec: LaunchSpec, name: str, where: Placement, instances: dict[str, Any], code: str
) -> str:
    """A cluster with nodes already keeps its zone (`--availability-zone` is refused on it):
    only a new cluster is told it may pick another zone."""
    zone = where.availability_zone or "this zone"
    other = f"--{spec.role}-type"
    if not any(n != name for n in instances):
        other += " or --availability-zone"
    return (
        f"AWS has no capacity for {spec.instance_type} in {zone} ({code}); try another "
        f"{other}, or re-run later"
    )


def _holder(run: Run, name: str, instances: dict[str, Any]) -> dict[str, Any] | None:
    """A live instance with this name: the recorded one (asked by ID), or one a tag search finds."""
    from botocore.exceptions import ClientError

    ec2 = run.aws.ec2
    recorded_id = (instances.get(name) or {}).get("id")
    candidates: list[dict[str, Any]] = []
    if recorded_id:
        try:
            for reservation in ec2.describe_instances(InstanceIds=[recorded_id])["Reservations"]:
                candidates.extend(reservation["Instances"])
        except ClientError as exc:
            if not is_not_found(exc):
                raise
    candidates += find_instances(run.aws, run.cluster)
    for inst in candidates:
        if name_of(inst) == name and inst["State"]["Name"] in LIVE_INSTANCE_STATES:
            return inst
    return None
