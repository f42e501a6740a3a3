"""What the instances boot and what they cost in vCPUs: the AMI, its architecture, the quota.

- The default AMI is Canonical's Ubuntu 24.04 for the instance type's architecture, read from
  the public SSM parameter. DescribeInstanceTypes lists `SupportedArchitectures` in no useful
  order (t2 types list `i386` first), so the first one Ubuntu publishes wins (x86_64, arm64).
- Before launching, the Service Quotas value L-1216C47A ("Running On-Demand Standard (A, C,
  D, H, I, M, R, T, Z) instances", in vCPUs) is compared with what runs plus what `up` adds.
  Best effort: without the permission, or where the quota is not published, `up` goes on and
  a launch beyond it fails with EC2's own VcpuLimitExceeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nomadctl.errors import CloudError, UsageError
from nomadctl.providers.aws.errors import error_code
from nomadctl.providers.aws.session import Aws

UBUNTU_PARAMETER = (
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id"
)
ARCH_NAMES = {"x86_64": "amd64", "arm64": "arm64"}  # EC2's name -> Ubuntu's, in preference
STANDARD_QUOTA = "L-1216C47A"
STANDARD_FAMILIES = set("acdhimrtz")  # the quota's own name lists these
_FAMILY = re.compile(r"^([a-z]+)\d")


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    architecture: str
    root_device: str
    min_size: int  # GiB of the root snapshot


def describe_type(aws: Aws, instance_type: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        info = aws.ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    except ClientError as exc:
        if error_code(exc) in ("InvalidInstanceType", "InvalidParameterValue"):
            raise UsageError(
                f"instance type {instance_type!r} does not exist in {aws.region}"
            ) from None
        raise
    if not info:
        raise UsageError(f"instance type {instance_type!r} does not exist in {aws.region}")
    return dict(info[0])


def type_architectures(aws: Aws, instance_type: str) -> list[str]:
    info = describe_type(aws, instance_type)
    return list(info.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"]))


def default_architecture(archs: list[str], instance_type: str) -> str:
    """The architecture to pick an Ubuntu image for: never `i386`, which t2 lists first."""
    for arch in ARCH_NAMES:
        if arch in archs:
            return arch
    raise CloudError(f"no default Ubuntu image for {instance_type} ({'/'.join(archs)}); pass --ami")


def default_ami(aws: Aws, architecture: str) -> str:
    from botocore.exceptions import ClientError

    arch = ARCH_NAMES.get(architecture)
    if arch is None:
        raise CloudError(f"no default Ubuntu image for {architecture}; pass --ami")
    parameter = UBUNTU_PARAMETER.format(arch=arch)
    try:
        return str(aws.ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except ClientError as exc:
        if error_code(exc) in ("ParameterNotFound", "ValidationException"):
            raise CloudError(
                f"cannot resolve the default Ubuntu 24.04 AMI in {aws.region} "
                f"(SSM parameter {parameter} not found); pass --ami"
            ) from None
        raise


def resolve_image(aws: Aws, ami: str | None, instance_type: str) -> Image:
    """The AMI to boot `instance_type` from, checked to exist and to fit its architecture."""
    from botocore.exceptions import ClientError

    archs = type_architectures(aws, instance_type)
    ami = ami or default_ami(aws, default_architecture(archs, instance_type))
    try:
        images = aws.ec2.describe_images(ImageIds=[ami])["Images"]
    except ClientError as exc:
        if error_code(exc).startswith("InvalidAMIID"):
            images = []
        else:
            raise
    if not images:
        raise CloudError(
            f"invalid AMI {ami}: it does not exist in {aws.region} or is not shared with "
            "this account; pass an AMI of this region with --ami"
        )
    image = images[0]
    if image.get("State", "available") != "available":
        raise CloudError(f"invalid AMI {ami}: it is {image['State']}, not available")
    arch = image.get("Architecture") or default_architecture(archs, instance_type)
    if arch not in archs:
        raise CloudError(
            f"AMI {ami} is for {arch} but {instance_type} runs "
            f"{'/'.join(archs)}; pick a matching --ami or instance type"
        )
    root = image.get("RootDeviceName") or "/dev/sda1"
    size = 0
    for mapping in image.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root:
            size = int(mapping.get("Ebs", {}).get("VolumeSize") or 0)
    return Image(ami, image.get("Name", ""), arch, root, size)


# ---- vCPU quota ------------------------------------------------------------------------------


def is_standard(instance_type: str) -> bool:
    found = _FAMILY.match(instance_type)
    return bool(found) and len(found.group(1)) == 1 and found.group(1) in STANDARD_FAMILIES


def standard_quota(aws: Aws) -> float | None:
    """The account's vCPU quota for standard on-demand instances here, or None if unknown."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        quota = aws.client("service-quotas").get_service_quota(
            ServiceCode="ec2", QuotaCode=STANDARD_QUOTA
        )
        return float(quota["Quota"]["Value"])
    except (ClientError, BotoCoreError, KeyError, ValueError):
        return None  # no servicequotas:GetServiceQuota, or not published: best effort


def check_vcpu_quota(aws: Aws, adding: dict[str, int], progress: Any) -> None:
    """Refuse before anything is created when the new instances would exceed the quota."""
    wanted = {t: n for t, n in adding.items() if n > 0 and is_standard(t)}
    if not wanted:
        return
    quota = standard_quota(aws)
    if quota is None:
        progress(f"vCPU quota ({STANDARD_QUOTA}) not readable here; not checked")
        return
    running: dict[str, int] = {}
    states = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    for page in aws.ec2.get_paginator("describe_instances").paginate(Filters=states):
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                itype = inst.get("InstanceType", "")
                if is_standard(itype):
                    running[itype] = running.get(itype, 0) + 1
    vcpus = {
        t: int(describe_type(aws, t).get("VCpuInfo", {}).get("DefaultVCpus") or 0)
        for t in set(running) | set(wanted)
    }
    used = sum(vcpus[t] * n for t, n in running.items())
    need = sum(vcpus[t] * n for t, n in wanted.items())
    if used + need > quota:
        raise CloudError(
            f"not enough vCPU quota in {aws.region}: {used} vCPUs of standard instances run "
            f"and this needs {need} more, over the quota of {quota:.0f} (Service Quotas "
            f"{STANDARD_QUOTA}); request an increase, use smaller types or fewer nodes"
        )
