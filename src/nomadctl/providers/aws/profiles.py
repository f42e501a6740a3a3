"""A client's instance profile, made what is asked on a live instance (issue 25 point 6).

Servers carry the auto-join profile (`ec2:DescribeInstances`); clients call no AWS API, so
they carry none, or their own empty one with `--client-instance-profile`. Clients launched
before carried the servers' profile: the next `up` takes it off (DisassociateIamInstanceProfile)
or swaps it (ReplaceIamInstanceProfileAssociation), with no restart, and the plan says so.
"""

from __future__ import annotations

from typing import Any

from nomadctl.providers.aws.common import Run, is_not_found, settle
from nomadctl.providers.aws.errors import error_code


def client_profile(run: Run, iid: str, inst: dict[str, Any], want: str | None) -> str:
    """A client's instance profile made what is asked, with no restart: none (clients made
    before issue 25 carried the servers' auto-join profile, which an `exec` or host-network
    task could use through IMDS: DisassociateIamInstanceProfile), or the clients' own
    (Associate/ReplaceIamInstanceProfileAssociation). What changed, or ""."""
    have = str((inst.get("IamInstanceProfile") or {}).get("Arn", ""))
    if (not have and not want) or (want and have.endswith("/" + want)):
        return ""
    if run.dry_run:
        return "instance profile removed" if not want else f"instance profile {want}"
    ec2 = run.aws.ec2
    found = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [iid]}]
    )["IamInstanceProfileAssociations"]
    live = [a for a in found if a.get("State") in ("associating", "associated")]
    if not want:
        for assoc in live:
            ec2.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
        return "instance profile removed (a client calls no AWS API)"
    if live:
        settle(
            ec2.replace_iam_instance_profile_association,
            AssociationId=live[0]["AssociationId"],
            IamInstanceProfile={"Name": want},
            timeout=120,
            retry=_profile_not_ready,
        )
    else:
        settle(
            ec2.associate_iam_instance_profile,
            InstanceId=iid,
            IamInstanceProfile={"Name": want},
            timeout=120,
            retry=_profile_not_ready,
        )
    return f"instance profile {want}"


def _profile_not_ready(exc: BaseException) -> bool:
    """IAM propagation: EC2 may call a new profile invalid for a while (launch.py's wait)."""
    return error_code(exc) == "InvalidParameterValue" or is_not_found(exc)
