"""`list --all-regions` looks in every enabled region and says which (issue 25 point 8).

The regions are EC2's DescribeRegions answer (moto serves the list); clusters are found by
their `nomadctl:cluster` tag in each.
"""

from __future__ import annotations

import json

from tests.aws.checks import ok
from tests.aws.fixtures import AwsEnv

TAG = "nomadctl:cluster"


def tagged_vpc(aws: AwsEnv, region: str, cluster: str) -> str:
    ec2 = aws.client("ec2", region)
    vpc = ec2.create_vpc(
        CidrBlock="10.9.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": TAG, "Value": cluster}]}],
    )
    return str(vpc["Vpc"]["VpcId"])


def test_all_regions_finds_clusters_anywhere_and_names_the_regions(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    west = tagged_vpc(aws_env, "eu-west-1", "west")
    oregon = tagged_vpc(aws_env, "us-west-2", "oregon")
    enabled = sorted(r["RegionName"] for r in aws_env.client("ec2").describe_regions()["Regions"])
    assert len(enabled) > 10 and "us-west-2" in enabled

    one = json.loads(ok(aws_env.nomadctl("list", "--json")).stdout)  # the region asked only
    assert [(c["cluster"], c["region"]) for c in one] == [("west", "eu-west-1")]

    found = json.loads(ok(aws_env.nomadctl("list", "--all-regions", "--json")).stdout)
    assert found["regions"] == enabled and found["failed"] == {}
    assert [(c["cluster"], c["region"], c["vpc_id"]) for c in found["clusters"]] == [
        ("oregon", "us-west-2", oregon),
        ("west", "eu-west-1", west),
    ]
    assert len([s for s in aws_env.proxy.calls("DescribeVpcs")]) >= len(enabled)

    table = ok(aws_env.nomadctl("list", "--all-regions"))
    assert "oregon" in table.stdout and "west" in table.stdout
    assert f"looked in {len(enabled)} regions (" in table.stderr + table.stdout
    assert "us-west-2" in table.stderr + table.stdout


def test_all_regions_without_any_region_configured_asks_us_east_1(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    proc = ok(aws_env.nomadctl("list", "--all-regions", "--json",
                               env={"AWS_REGION": None, "AWS_DEFAULT_REGION": None}))  # fmt: skip
    assert json.loads(proc.stdout)["clusters"] == []
    asked = aws_env.proxy.calls("DescribeRegions")
    assert asked and all(b"us-east-1" not in s.body for s in asked)  # the region is in the URL
