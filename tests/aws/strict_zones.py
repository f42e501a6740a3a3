"""Availability Zone offerings, for the strict layer (strict.py): moto launches any instance
type in any zone; AWS refuses a type the subnet's zone does not offer.

[EC2-OF] EC2 API Reference, DescribeInstanceTypeOfferings (LocationType availability-zone
         lists the types each zone offers) and the error codes page: RunInstances answers
         `Unsupported` "Your requested instance type (X) is not supported in your requested
         Availability Zone (Z). Please retry your request by not specifying an Availability
         Zone or choosing <zones that offer it>." The offerings themselves are moto's copy of
         AWS's (moto/ec2/resources/instance_type_offerings/availability-zone/<region>.json),
         read by strict_ec2.offerings (moto answers DescribeInstanceTypeOfferings from the
         same files).
"""

from __future__ import annotations

from typing import Any

from tests.aws.strict_ec2 import offerings


def unsupported(strict: Any, params: dict[str, list[str]], region: str) -> Any | None:
    """RunInstances into a zone that does not offer the instance type: `Unsupported`."""
    itype = (params.get("InstanceType") or [""])[0]
    subnet = (params.get("SubnetId") or params.get("NetworkInterface.1.SubnetId") or [""])[0]
    if not itype or not subnet:
        return None
    ec2 = strict._ec2(region)
    try:
        zone = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailabilityZone"]
    except Exception:  # an unknown subnet: moto gives AWS's own error
        return None
    table = offerings(region)  # one reading of moto's data, shared with StartInstances' rule
    zones = sorted(table.get(itype, frozenset()))
    if not table or zone in zones:
        return None
    return strict._refuse(
        "RunInstances",
        400,
        "Unsupported",
        f"Your requested instance type ({itype}) is not supported in your requested "
        f"Availability Zone ({zone}). Please retry your request by not specifying an "
        f"Availability Zone or choosing {', '.join(zones)}.",
    )
