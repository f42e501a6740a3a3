"""`up` and `down` against EC2's and IAM's real semantics, as tests/aws/strict.py models them.

Every AWS test runs through the strict layer with all its behaviours on. Each test here keeps
only the behaviour it is about (`windows.only(...)`; idempotency tokens are always on) and
widens it, so that it shows exactly that behaviour: idempotency tokens, eventual
consistency, IAM propagation, dependency violations, and the real-world choices
(architecture, zone offerings, public IPs, vCPU quota). Each fails on the provider before
issue 13 (run with NOMADCTL_TEST_CLI_PATH=<old tree>/src).
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from nomadctl.providers.aws.common import iam_name
from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.fixtures import AwsEnv

ALLOW = ("--allow-cidr", "203.0.113.0/24")
SMALL = ("--servers", "1", "--clients", "1")


def up(aws: AwsEnv, *args: str, **kw: Any):  # type: ignore[no-untyped-def]
    return aws.nomadctl("--cluster", "alpha", "up", "--yes", *ALLOW, *args, **kw)


def down_leaves_nothing(aws: AwsEnv) -> None:
    ok(aws.nomadctl("--cluster", "alpha", "down", "--yes"))
    checks.assert_gone(aws, "alpha")


def terminate(aws: AwsEnv, name: str) -> str:
    """Terminate one node behind nomadctl's back (the console, a spot reclaim, a mistake)."""
    (inst,) = [i for i in checks.instances(aws, "alpha") if checks.tags_of(i)["Name"] == name]
    aws.client("ec2").terminate_instances(InstanceIds=[inst["InstanceId"]])
    return str(inst["InstanceId"])


def refused(aws: AwsEnv) -> set[str]:
    return {code for _, code, _ in aws.strict.refused}


# ---- idempotency tokens ----------------------------------------------------------------------


def test_a_node_terminated_behind_our_back_is_replaced_once(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, *SMALL))
    old = terminate(aws_env, "alpha-server-1")
    ok(up(aws_env, *SMALL))  # EC2 says IdempotentInstanceTerminated for the old token
    assert "IdempotentInstanceTerminated" in refused(aws_env)
    insts = checks.instances(aws_env, "alpha")
    assert checks.names(insts) == ["alpha-client-1", "alpha-server-1"]
    assert old not in {i["InstanceId"] for i in insts}
    assert checks.state(aws_env, "alpha")["aws"]["generations"] == {"alpha-server-1": 1}
    ok(up(aws_env, *SMALL))  # the new generation's token replays; nothing new
    assert len(checks.instances(aws_env, "alpha")) == 2
    down_leaves_nothing(aws_env)


def test_a_changed_request_gets_a_new_token_and_no_duplicate(aws_env: AwsEnv) -> None:
    """The node is replaced after a change of instance type, then volume size, then AMI."""
    aws_env.strict.windows.only()
    ok(up(aws_env, *SMALL))
    images = aws_env.client("ec2").describe_images(Owners=["099720109477"])["Images"]
    other_ami = next(i["ImageId"] for i in images if i["ImageId"] != aws_env.ami)
    asked: list[str] = []
    for change in (("--client-type", "t3.medium"), ("--root-volume-size", "30"),
                   ("--ami", other_ami)):  # fmt: skip
        terminate(aws_env, "alpha-client-1")
        asked += change
        proc = ok(up(aws_env, *SMALL, *asked))  # was IdempotentParameterMismatch
        insts = {checks.tags_of(i)["Name"]: i for i in checks.instances(aws_env, "alpha")}
        assert sorted(insts) == ["alpha-client-1", "alpha-server-1"]
        client = insts["alpha-client-1"]
        assert client["InstanceType"] == "t3.medium"
        root = client["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        size = aws_env.client("ec2").describe_volumes(VolumeIds=[root])["Volumes"][0]["Size"]
        assert size == (30 if "--root-volume-size" in asked else 20)
    assert client["ImageId"] == other_ami
    assert "alpha-server-1 kept as it is" in proc.stderr  # a live node is never replaced
    assert "IdempotentParameterMismatch" not in refused(aws_env)
    down_leaves_nothing(aws_env)


def test_a_launch_failing_midway_names_what_bills_and_up_converges(
    aws_env: AwsEnv, fault_proxy: Any
) -> None:
    aws_env.strict.windows.only()  # the first RunInstances to reach the proxy is the server's
    fault_proxy.add("RunInstances", "capacity", skip=1, times=100)  # the client never launches
    proc = up(aws_env, *SMALL, env={"AWS_MAX_ATTEMPTS": "1"})
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    server = checks.instances(aws_env, "alpha")[0]["InstanceId"]
    assert f"running and billing now: alpha-server-1 ({server})" in line
    assert "`nomadctl down`" in line and "no capacity" in line
    assert checks.state(aws_env, "alpha")["aws"]["instances"]["alpha-server-1"]["id"] == server
    fault_proxy.clear()
    ok(up(aws_env, *SMALL))
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    down_leaves_nothing(aws_env)


def test_a_node_lost_during_its_launch_is_named_and_replaced_by_the_rerun(
    aws_env: AwsEnv, fault_proxy: Any
) -> None:
    aws_env.strict.windows.only()
    rule = fault_proxy.add("RunInstances", "block_after", skip=1)  # the client's launch
    proc = aws_env.popen("--cluster", "alpha", "up", "--yes", *ALLOW, *SMALL)
    try:
        assert rule.blocked.wait(60), "up never launched the client"
        lost = terminate(aws_env, "alpha-client-1")  # e.g. Server.InternalError at boot
        rule.release.set()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        rule.release.set()
    assert proc.returncode == 5
    line = error_line(err)
    server = checks.state(aws_env, "alpha")["aws"]["instances"]["alpha-server-1"]["id"]
    assert f"alpha-client-1 ({lost}) went to" in line
    assert f"running and billing now: alpha-server-1 ({server});" in line
    assert "`nomadctl down`" in line
    ok(up(aws_env, *SMALL))
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    assert lost not in checks.tagged(aws_env, "alpha")["instances"]
    down_leaves_nothing(aws_env)


# ---- eventual consistency ---------------------------------------------------------------------


def test_ids_just_created_are_not_found_for_a_while(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only(ec2_id=0.6)
    proc = ok(up(aws_env, *SMALL))
    assert {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidInstanceID.NotFound",
    } <= refused(aws_env)
    assert "Traceback" not in proc.stderr
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    down_leaves_nothing(aws_env)


@pytest.mark.parametrize("held", ["CreateSubnet", "CreateRole"])
def test_a_rerun_seconds_after_a_create_makes_nothing_twice(
    aws_env: AwsEnv, fault_proxy: Any, held: str
) -> None:
    """Killed right after creating the network (and groups, key): the re-run's tag searches
    do not list them yet; state.json's IDs, asked by ID, do."""
    aws_env.strict.windows.only(ec2_search=60.0)
    rule = fault_proxy.add(held, "block", forward=False)
    proc = aws_env.popen("--cluster", "alpha", "up", "--yes", *ALLOW, *SMALL)
    try:
        assert rule.blocked.wait(60), "up never reached the held request"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        rule.release.set()
    before = checks.tagged(aws_env, "alpha")
    fault_proxy.clear()
    ok(up(aws_env, *SMALL))
    assert ("search", "vpcId", "") in aws_env.strict.refused  # the re-run's search missed it
    after = checks.tagged(aws_env, "alpha")
    for kind in ("vpcs", "subnets", "igws", "route_tables", "security_groups"):
        if before[kind]:
            assert after[kind] == before[kind], kind
    checks.assert_complete(aws_env, "alpha", servers=1, clients=1)
    aws_env.strict.windows.ec2_search = 0.0
    down_leaves_nothing(aws_env)


# ---- IAM ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("windows", "refusal"),
    [
        ({"iam_entity": 0.5}, "The role with name nomadctl-alpha-node cannot be found"),
        ({"iam_profile": 0.8, "iam_role": 1.6}, "has no associated IAM Roles"),
    ],
    ids=["add-role", "profile-and-role"],
)
def test_instance_profile_and_role_propagate_before_launch(
    aws_env: AwsEnv, windows: dict[str, float], refusal: str
) -> None:
    aws_env.strict.windows.only(**windows)
    proc = ok(up(aws_env, *SMALL))
    texts = " | ".join(m for _, _, m in aws_env.strict.refused)
    assert refusal in texts
    if "iam_profile" in windows:
        assert "Invalid IAM Instance Profile name" in texts
        assert "waiting for the IAM instance profile to be visible to EC2" in proc.stderr
    assert len(checks.instances(aws_env, "alpha")) == 2
    down_leaves_nothing(aws_env)


@pytest.mark.parametrize(
    ("windows", "codes"),
    [
        ({"iam_stale": 1.0, "delete_conflict": 1.0}, {"DeleteConflict"}),
        ({"eni_detach": 1.0, "assoc_detach": 1.0}, {"DependencyViolation"}),
    ],
    ids=["iam", "network"],
)
def test_down_waits_for_dependencies_and_runs_twice(
    aws_env: AwsEnv, windows: dict[str, float], codes: set[str]
) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, *SMALL))
    aws_env.strict.windows.only(**windows)
    proc = ok(aws_env.nomadctl("--cluster", "alpha", "down", "--yes"))
    assert codes <= refused(aws_env)
    assert "still in use" in proc.stderr
    checks.assert_gone(aws_env, "alpha")
    names = {r["RoleName"] for r in aws_env.client("iam").list_roles()["Roles"]}
    assert iam_name("alpha") not in names
    again = ok(aws_env.nomadctl("--cluster", "alpha", "down", "--yes"))
    assert "Nothing to delete" in again.stdout


# ---- real-world choices ---------------------------------------------------------------------


def test_t2_gets_the_x86_64_image_not_i386(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, "--servers", "1", "--clients", "0", "--server-type", "t2.micro"))
    (inst,) = checks.instances(aws_env, "alpha")
    assert inst["ImageId"] == aws_env.ami and inst["InstanceType"] == "t2.micro"


def own_subnet(aws: AwsEnv, zone: str = "eu-west-1a") -> tuple[str, str]:
    ec2 = aws.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="198.18.1.0/24", AvailabilityZone=zone)
    return vpc_id, subnet["Subnet"]["SubnetId"]


def test_subnet_zone_must_offer_the_instance_type(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    _, subnet_id = own_subnet(aws_env, "eu-west-1c")  # c8a.large: only 1a and 1b here
    proc = up(aws_env, "--subnet-id", subnet_id, "--servers", "1", "--clients", "0",
              "--server-type", "c8a.large")  # fmt: skip
    assert proc.returncode == 5
    assert "c8a.large is not offered in eu-west-1c" in error_line(proc.stderr)
    checks.assert_gone(aws_env, "alpha")


def test_availability_zone_with_subnet_id_is_a_usage_error(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    _, subnet_id = own_subnet(aws_env)
    proc = up(aws_env, "--subnet-id", subnet_id, "--availability-zone", "eu-west-1b")
    assert proc.returncode == 2 and "--availability-zone" in error_line(proc.stderr)
    assert not [s for s in aws_env.proxy.log if s.action.startswith(("Create", "Import"))]


def test_a_subnet_without_public_ips_still_gives_reachable_nodes(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    vpc_id, subnet_id = own_subnet(aws_env)  # MapPublicIpOnLaunch is off
    ec2 = aws_env.client("ec2")  # but it routes to an internet gateway (issue 25 point 5)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    (main,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"
    ]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                     GatewayId=igw)  # fmt: skip
    proc = ok(up(aws_env, "--vpc-id", vpc_id, "--subnet-id", subnet_id, *SMALL, "--json"))
    hosts = json.loads(proc.stdout)["hosts"]
    assert len(hosts) == 2 and all(h["public_ip"] for h in hosts)
    down_leaves_nothing(aws_env)


def test_the_vcpu_quota_is_checked_before_anything_is_created(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    aws_env.strict.quota_vcpus = 8  # 6 x t3.small = 12 vCPUs
    proc = up(aws_env)
    assert proc.returncode == 5
    line = error_line(proc.stderr)
    assert "vCPU quota" in line and "12 more" in line and "L-1216C47A" in line
    checks.assert_gone(aws_env, "alpha")
    aws_env.strict.quota_vcpus = 16
    ok(up(aws_env, "--servers", "1", "--clients", "0"))
