"""Creates whose retry meets their own lost answer, for the network's calls (issue 25 point 7).

CreateSubnet has no name and no ClientToken in botocore's ec2 model, but a CIDR is unique in its
VPC: when the first attempt went through and its answer was lost (botocore retries a reset
connection), the retry gets `InvalidSubnet.Conflict`. The subnet with that CIDR is ours when it
carries the cluster's tag; then `up` carries on with it (waiting a little for a describe to
list it: "Eventual consistency in the Amazon EC2 API"). Otherwise the error is a clear one.
"""

from __future__ import annotations

from typing import Any

from nomadctl.errors import CloudError
from nomadctl.providers.aws.common import TAG_CLUSTER, Run, settle, tag_dict
from nomadctl.providers.aws.errors import error_code
from nomadctl.providers.aws.session import poll

VISIBLE_WAIT = 60.0


def create_subnet(run: Run, **request: Any) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    ec2 = run.aws.ec2
    try:  # the VPC made a moment ago may be InvalidVpcID.NotFound
        return dict(settle(ec2.create_subnet, **request)["Subnet"])
    except ClientError as exc:
        if error_code(exc) != "InvalidSubnet.Conflict":
            raise
    vpc_id, cidr = request["VpcId"], request["CidrBlock"]

    def listed() -> dict[str, Any] | None:
        found = ec2.describe_subnets(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "cidr-block", "Values": [cidr]},
            ]
        )["Subnets"]
        return found[0] if found else None

    subnet = poll(listed, what=f"subnet {cidr} in {vpc_id} to be listed", timeout=VISIBLE_WAIT)
    if tag_dict(subnet.get("Tags")).get(TAG_CLUSTER) != run.cluster:
        raise CloudError(
            f"subnet {cidr} in {vpc_id} ({subnet['SubnetId']}) was not made by nomadctl for "
            f"cluster {run.cluster!r}; choose another --subnet-cidr or remove that subnet"
        )
    run.progress(f"subnet {cidr}: the first attempt went through ({subnet['SubnetId']})")
    return subnet
