"""Burstable instances launch with standard CPU credits (issue 25 point 4).

AWS launches T3/T3a/T4g in unlimited mode unless the launch says otherwise (T2: standard);
the strict layer answers DescribeInstanceCreditSpecifications that way (tests/aws/strict_ec2.py
[EC2-CR]). `up` asks for standard, or for unlimited with `--cpu-credits unlimited`, which the
plan's cost line then explains.
"""

from __future__ import annotations

import json

from tests.aws import checks
from tests.aws.checks import ok
from tests.aws.fixtures import AwsEnv
from tests.providers.aws.test_aws_strict import down_leaves_nothing, up

SIZE = ("--servers", "1", "--clients", "1")


def modes(aws: AwsEnv) -> dict[str, str]:
    insts = {i["InstanceId"]: checks.tags_of(i)["Name"] for i in checks.instances(aws, "alpha")}
    import boto3

    ec2 = boto3.client(  # through the strict layer, which knows AWS's defaults
        "ec2",
        region_name=aws.region,
        endpoint_url=aws.proxy.url,
        aws_access_key_id="AKIATESTTESTTESTTEST",
        aws_secret_access_key="test",
    )
    specs = ec2.describe_instance_credit_specifications(InstanceIds=sorted(insts))
    return {insts[s["InstanceId"]]: s["CpuCredits"] for s in specs["InstanceCreditSpecifications"]}


def test_t3_nodes_launch_with_standard_credits(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    proc = ok(up(aws_env, *SIZE, "--json"))
    assert modes(aws_env) == {"alpha-server-1": "standard", "alpha-client-1": "standard"}
    assert "unlimited" not in json.dumps(json.loads(proc.stdout).get("costs"))
    down_leaves_nothing(aws_env)


def test_unlimited_is_asked_for_and_its_cost_explained(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    dry = ok(up(aws_env, *SIZE, "--cpu-credits", "unlimited", "--dry-run"))
    line = next(x for x in dry.stdout.splitlines() if x.startswith("Cost while running"))
    assert "eu-west-1 On-Demand list prices" in line
    assert "unlimited CPU credits on t3.small" in line and "$0.20/hour more" in line
    ok(up(aws_env, *SIZE, "--cpu-credits", "unlimited"))
    assert modes(aws_env) == {"alpha-server-1": "unlimited", "alpha-client-1": "unlimited"}
    down_leaves_nothing(aws_env)


def test_a_bad_credit_mode_is_a_usage_error(aws_env: AwsEnv) -> None:
    proc = up(aws_env, "--cpu-credits", "sometimes")
    assert proc.returncode == 2 and "--cpu-credits 'sometimes'" in proc.stderr
    assert not [s for s in aws_env.proxy.log if s.action.startswith(("Create", "Import", "Run"))]
