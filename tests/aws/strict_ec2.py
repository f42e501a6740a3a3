"""More EC2 semantics moto skips, for the strict layer (strict.py calls `before`).

Sources, cited below by their letters:

[EC2-TYPE] EC2 User Guide, "Change the instance type"
           https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/change-instance-type.html
           ("You must stop your Amazon EBS-backed instance before you can change its instance
           type"); the ModifyInstanceAttribute API reference says the same of `InstanceType`,
           and EC2 answers `IncorrectInstanceState` for a running instance.
[EC2-AZ]   EC2 User Guide, "Find an Amazon EC2 instance type" / DescribeInstanceTypeOfferings:
           a type is offered per zone; a start or launch of a type the zone does not offer is
           refused with `Unsupported` ("Your requested instance type (X) is not supported in
           your requested Availability Zone (Y)", EC2 API error codes page). The offerings are
           moto's own data (moto/ec2/resources/instance_type_offerings/availability-zone/).
[EC2-CR]   EC2 User Guide, "Key concepts for burstable instances" and "Unlimited mode for
           burstable performance instances": T3, T3a and T4g launch in *unlimited* mode by
           default, T2 in *standard* mode; RunInstances `CreditSpecification.CpuCredits`
           chooses (botocore's ec2 model: CreditSpecificationRequest, CpuCredits "standard" |
           "unlimited"); DescribeInstanceCreditSpecifications answers the mode per instance.
           moto answers "standard" for every instance whatever was asked.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.aws.strict import Answer, Strict


@cache
def offerings(region: str) -> dict[str, frozenset[str]]:
    """[EC2-AZ] instance type -> zones that offer it, from moto's data for `region`."""
    import moto

    path = (
        Path(moto.__file__).parent
        / "ec2/resources/instance_type_offerings/availability-zone"
        / f"{region}.json.gz"
    )
    if not path.exists():
        return {}
    zones: dict[str, set[str]] = {}
    for offer in json.loads(gzip.decompress(path.read_bytes())):
        zones.setdefault(offer["InstanceType"], set()).add(offer["Location"])
    return {t: frozenset(z) for t, z in zones.items()}


def _instance(strict: Strict, region: str, instance_id: str) -> dict[str, Any] | None:
    try:
        found = strict._ec2(region).describe_instances(InstanceIds=[instance_id])
    except Exception:  # unknown to moto: moto answers the call itself
        return None
    return next((i for r in found["Reservations"] for i in r["Instances"]), None)


def default_credits(instance_type: str) -> str | None:
    """[EC2-CR] the mode a burstable instance gets when the launch does not say."""
    if instance_type.startswith("t2."):
        return "standard"
    if instance_type.startswith(("t3.", "t3a.", "t4g.")):
        return "unlimited"
    return None


def after(strict: Strict, action: str, params: dict[str, list[str]], data: bytes) -> None:
    """[EC2-CR] remember each launched instance's credit mode."""
    if action != "RunInstances":
        return
    itype = (params.get("InstanceType") or [""])[0]
    mode = (params.get("CreditSpecification.CpuCredits") or [default_credits(itype)])[0]
    if mode is None:
        return
    with strict.lock:
        for iid in re.findall(rb"<instanceId>([^<]+)</instanceId>", data):
            strict.credits[iid.decode()] = mode


def _credit_specs(strict: Strict, params: dict[str, list[str]]) -> Answer | None:
    """[EC2-CR] DescribeInstanceCreditSpecifications by instance ID, as launched."""
    from tests.aws.strict import Answer

    ids = [v[0] for k, v in sorted(params.items()) if k.startswith("InstanceId.")]
    with strict.lock:
        known = {i: strict.credits[i] for i in ids if i in strict.credits}
    if not ids or len(known) != len(ids):
        return None
    items = "".join(
        f"<item><instanceId>{i}</instanceId><cpuCredits>{known[i]}</cpuCredits></item>" for i in ids
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstanceCreditSpecificationsResponse '
        'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>strict</requestId>'
        f"<instanceCreditSpecificationSet>{items}</instanceCreditSpecificationSet>"
        "</DescribeInstanceCreditSpecificationsResponse>"
    )
    return Answer(200, body=body.encode())


def before(strict: Strict, action: str, params: dict[str, list[str]], region: str) -> Answer | None:
    if action == "DescribeInstanceCreditSpecifications":
        return _credit_specs(strict, params)
    if action == "ModifyInstanceAttribute" and "InstanceType.Value" in params:
        return _modify_type(strict, params, region)
    if action == "StartInstances":
        return _start(strict, params, region)
    return None


def _modify_type(strict: Strict, params: dict[str, list[str]], region: str) -> Answer | None:
    """[EC2-TYPE] the type changes only while the instance is stopped."""
    iid = (params.get("InstanceId") or [""])[0]
    inst = _instance(strict, region, iid)
    if inst is None or inst["State"]["Name"] == "stopped":
        return None
    return strict._refuse(
        "ModifyInstanceAttribute",
        400,
        "IncorrectInstanceState",
        f"The instance '{iid}' is not in the 'stopped' state.",
    )


def _start(strict: Strict, params: dict[str, list[str]], region: str) -> Answer | None:
    """[EC2-AZ] a stopped instance starts only with a type its zone offers."""
    table = offerings(region)
    for key, values in params.items():
        if not key.startswith("InstanceId."):
            continue
        inst = _instance(strict, region, values[0])
        if inst is None or not table:
            continue
        itype, zone = inst.get("InstanceType", ""), inst["Placement"]["AvailabilityZone"]
        if zone not in table.get(itype, frozenset()):
            return strict._refuse(
                "StartInstances",
                400,
                "Unsupported",
                f"Your requested instance type ({itype}) is not supported in your requested "
                f"Availability Zone ({zone}).",
            )
    return None
