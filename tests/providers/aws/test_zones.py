"""Issue 25 point 1: three zones by default, through the real CLI against moto (strict layer).

moto's instance type offerings per zone are its copy of AWS's (moto/ec2/resources/
instance_type_offerings/availability-zone/<region>.json): in eu-west-1 t3.small is offered in
1a, 1b and 1c, c8a.large only in 1a and 1b. `NOMADCTL_UP_SKIP_CONFIGURE` (the fixture's) stops
`up` before SSH: these tests are about where instances and subnets go.
"""

from __future__ import annotations

import json
from typing import Any

from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.fixtures import AwsEnv

ALLOW = ("--allow-cidr", "203.0.113.0/24")
NET = ("--vpc-cidr", "198.18.0.0/16", "--subnet-cidr", "198.18.1.0/24")
NO_LB = ("--api-endpoint", "none")  # the load balancer: test_balancer.py


def up(aws: AwsEnv, *args: str, cluster: str = "zed", **kw: Any):  # type: ignore[no-untyped-def]
    return aws.nomadctl("--cluster", cluster, "up", "--yes", *ALLOW, *args, **kw)


def subnets_of(aws: AwsEnv, cluster: str = "zed") -> list[dict[str, Any]]:
    found = checks.tagged(aws, cluster)["subnets"]
    return aws.client("ec2").describe_subnets(SubnetIds=found)["Subnets"] if found else []


def zone_of(inst: dict[str, Any]) -> str:
    return str(inst["Placement"]["AvailabilityZone"])


def by_name(aws: AwsEnv, cluster: str = "zed") -> dict[str, dict[str, Any]]:
    return {checks.tags_of(i)["Name"]: i for i in checks.instances(aws, cluster)}


def test_a_3_plus_3_up_spreads_servers_over_three_zones_and_subnets(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    proc = ok(up(aws_env, *NET, *NO_LB, "--json"))
    report = json.loads(proc.stdout)
    subnets = subnets_of(aws_env)
    assert sorted((s["AvailabilityZone"], s["CidrBlock"]) for s in subnets) == [
        ("eu-west-1a", "198.18.1.0/24"),
        ("eu-west-1b", "198.18.2.0/24"),
        ("eu-west-1c", "198.18.3.0/24"),
    ]
    nodes = by_name(aws_env)
    servers = [nodes[f"zed-server-{i}"] for i in (1, 2, 3)]
    clients = [nodes[f"zed-client-{i}"] for i in (1, 2, 3)]
    assert [zone_of(i) for i in servers] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert [zone_of(i) for i in clients] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert len({i["SubnetId"] for i in servers}) == 3
    checks.assert_complete(aws_env, "zed")
    # every subnet routes through the cluster's one route table
    (table,) = aws_env.client("ec2").describe_route_tables(
        Filters=[{"Name": "tag:nomadctl:cluster", "Values": ["zed"]}]
    )["RouteTables"]
    assert {a["SubnetId"] for a in table["Associations"]} == {s["SubnetId"] for s in subnets}
    state = checks.state(aws_env, "zed")["aws"]
    assert [s["zone"] for s in state["subnets"]] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert state["subnet_id"] == state["subnets"][0]["id"]  # the first, as before
    assert {h["private_ip"] for h in report["hosts"]} == {
        i["PrivateIpAddress"] for i in nodes.values()
    }
    # each host knows its zone (an Enterprise server's redundancy_zone: test_render_zones.py)
    assert {h["name"]: h["zone"] for h in report["hosts"]} == {
        n: zone_of(i) for n, i in nodes.items()
    }

    again = json.loads(ok(up(aws_env, *NET, *NO_LB, "--json")).stdout)
    assert again["aws"]["changed"] is False
    assert {i["InstanceId"] for i in checks.instances(aws_env, "zed")} == {
        i["InstanceId"] for i in nodes.values()
    }
    ok(aws_env.nomadctl("--cluster", "zed", "down", "--yes"))
    checks.assert_gone(aws_env, "zed")
    assert "Nothing to delete" in ok(aws_env.nomadctl("--cluster", "zed", "down", "--yes")).stdout


def test_zones_offering_every_type_only(aws_env: AwsEnv) -> None:
    """c8a.large is offered in two of eu-west-1's zones: two subnets, servers 1 and 3 in 1a."""
    aws_env.strict.windows.only()
    ok(up(aws_env, *NO_LB, "--server-type", "c8a.large", "--clients", "0"))
    assert sorted(s["AvailabilityZone"] for s in subnets_of(aws_env)) == [
        "eu-west-1a",
        "eu-west-1b",
    ]
    nodes = by_name(aws_env)
    assert [zone_of(nodes[f"zed-server-{i}"]) for i in (1, 2, 3)] == [
        "eu-west-1a",
        "eu-west-1b",
        "eu-west-1a",
    ]
    offerings = [e for e in aws_env.proxy.log if e.action == "DescribeInstanceTypeOfferings"]
    assert offerings, "zones are chosen by their offerings"


def test_named_zones_and_their_checks(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    bad = up(aws_env, *NO_LB, "--zones", "a,z")
    assert bad.returncode == 2
    assert "z is not an available zone of eu-west-1" in error_line(bad.stderr)
    unoffered = up(aws_env, *NO_LB, "--zones", "b,c", "--server-type", "c8a.large")
    assert unoffered.returncode == 5
    line = error_line(unoffered.stderr)
    assert "c8a.large is not offered in eu-west-1c" in line and "eu-west-1a, eu-west-1b" in line
    for wrong, needle in (("0", "use 1 to 6"), ("a,a", "twice"), ("x y", "not a zone name")):
        proc = up(aws_env, "--zones", wrong)
        assert proc.returncode == 2 and needle in error_line(proc.stderr), proc.stderr
    checks.assert_gone(aws_env, "zed")
    assert not [e for e in aws_env.proxy.log if e.action.startswith(("Create", "Run"))]

    ok(up(aws_env, *NO_LB, "--zones", "eu-west-1c,b", "--servers", "1", "--clients", "2"))
    assert [s["AvailabilityZone"] for s in subnets_of(aws_env)] != []
    nodes = by_name(aws_env)
    assert zone_of(nodes["zed-server-1"]) == "eu-west-1c"
    assert [zone_of(nodes[f"zed-client-{i}"]) for i in (1, 2)] == ["eu-west-1c", "eu-west-1b"]


def test_zones_1_keeps_one_subnet_and_a_single_zone_cluster_moves_only_when_asked(
    aws_env: AwsEnv,
) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, *NET, *NO_LB, "--zones", "1"))
    (only,) = subnets_of(aws_env)
    before = {n: (i["InstanceId"], zone_of(i)) for n, i in by_name(aws_env).items()}
    assert {z for _, z in before.values()} == {only["AvailabilityZone"]}

    # An existing single-zone cluster keeps working as it is; the plan says how to move it.
    dry = ok(up(aws_env, *NET, *NO_LB, "--dry-run", "--json"))
    plan = json.loads(dry.stdout)
    notes = " ".join(plan["plan"]["warnings"] if "plan" in plan else plan["warnings"])
    assert "--zones 3" in notes and "stay where they are" in notes
    kept = json.loads(ok(up(aws_env, *NET, *NO_LB, "--json")).stdout)
    assert kept["aws"]["changed"] is False and len(subnets_of(aws_env)) == 1

    # --zones 3: two more subnets; nothing that runs is moved, replaced or restarted.
    moved = ok(up(aws_env, *NET, *NO_LB, "--zones", "3", "--json"))
    created = [r for r in json.loads(moved.stdout)["aws"]["resources"] if r["status"] == "created"]
    assert sorted(r["kind"] for r in created) == ["subnet", "subnet"]
    assert sorted(s["CidrBlock"] for s in subnets_of(aws_env)) == [
        "198.18.1.0/24",
        "198.18.2.0/24",
        "198.18.3.0/24",
    ]
    after = {n: (i["InstanceId"], zone_of(i)) for n, i in by_name(aws_env).items()}
    assert after == before
    # nodes launched from now on go round-robin over the three zones
    ok(up(aws_env, *NET, *NO_LB, "--clients", "5"))
    nodes = by_name(aws_env)
    zones = [
        s["AvailabilityZone"] for s in sorted(subnets_of(aws_env), key=lambda s: s["CidrBlock"])
    ]
    assert zone_of(nodes["zed-client-4"]) == zones[0] and zone_of(nodes["zed-client-5"]) == zones[1]
    ok(aws_env.nomadctl("--cluster", "zed", "down", "--yes"))
    checks.assert_gone(aws_env, "zed")


def test_your_own_subnets_one_per_zone(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    ec2 = aws_env.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    mine = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"198.18.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((11, "eu-west-1b"), (12, "eu-west-1c"), (13, "eu-west-1c"))
    ]
    twice = up(aws_env, *NO_LB, "--subnet-id", mine[1], "--subnet-id", mine[2])
    assert twice.returncode == 2 and "one subnet per zone" in error_line(twice.stderr)
    # subnets without a gateway route are private (issue 25 point 5): reached from inside
    ok(
        up(
            aws_env,
            *NO_LB,
            "--subnet-id",
            mine[0],
            "--subnet-id",
            mine[1],
            "--ssh-address",
            "private",
        )
    )
    nodes = by_name(aws_env)
    assert [nodes[f"zed-server-{i}"]["SubnetId"] for i in (1, 2, 3)] == [
        mine[0],
        mine[1],
        mine[0],
    ]
    assert not checks.tagged(aws_env, "zed")["subnets"]  # yours: never tagged
    ok(aws_env.nomadctl("--cluster", "zed", "down", "--yes"))
    assert {s["SubnetId"] for s in ec2.describe_subnets(SubnetIds=mine)["Subnets"]} == set(mine)


def test_the_strict_layer_refuses_a_type_the_zone_does_not_offer(aws_env: AwsEnv) -> None:
    """[EC2-OF] (tests/aws/strict_zones.py): moto alone would launch it."""
    import boto3
    from botocore.exceptions import ClientError

    aws_env.strict.windows.only()
    ec2 = aws_env.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.1.0/24", AvailabilityZone="eu-west-1c")
    strict = boto3.client(
        "ec2",
        region_name=aws_env.region,
        endpoint_url=aws_env.proxy.url,
        aws_access_key_id="AKIATESTTESTTESTTEST",
        aws_secret_access_key="test",
    )
    launch = {"ImageId": aws_env.ami, "MinCount": 1, "MaxCount": 1}
    sid = subnet["Subnet"]["SubnetId"]
    try:
        strict.run_instances(InstanceType="c8a.large", SubnetId=sid, **launch)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "Unsupported"
        assert "eu-west-1a, eu-west-1b" in exc.response["Error"]["Message"]
    else:
        raise AssertionError("c8a.large launched in eu-west-1c")
    strict.run_instances(InstanceType="t3.small", SubnetId=sid, **launch)


def test_a_type_change_is_checked_against_each_nodes_own_zone(aws_env: AwsEnv) -> None:
    """Issue 25 points 1 and 3 together: an instance changes its type in place and cannot
    change zones, so the offerings are checked in each node's own zone (moto's: m8a.large is
    offered in eu-west-1b and 1c, not 1a): only the server in 1a is named, nothing changes."""
    aws_env.strict.windows.only()
    ok(up(aws_env, *NET, *NO_LB))
    before = {n: (i["InstanceId"], i["InstanceType"]) for n, i in by_name(aws_env).items()}
    for extra in (("--dry-run",), ()):
        refused = up(aws_env, *NET, *NO_LB, "--server-type", "m8a.large", *extra)
        assert refused.returncode == 5, refused.stderr
        line = error_line(refused.stderr)
        assert "m8a.large is not offered in eu-west-1a, the zone of zed-server-1 (" in line, line
        assert "(zones of eu-west-1 that offer it: eu-west-1b, eu-west-1c)" in line, line
    after = {n: (i["InstanceId"], i["InstanceType"]) for n, i in by_name(aws_env).items()}
    assert after == before
    ok(aws_env.nomadctl("--cluster", "zed", "down", "--yes"))
