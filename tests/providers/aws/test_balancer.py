"""Issue 25 point 2: the API endpoint that survives a server, against moto behind the strict
layer (which makes a new load balancer `provisioning` and new targets `initial` for a while,
and keeps a deleted load balancer's target group and subnets busy: tests/aws/strict_elb.py).

`NOMADCTL_UP_SKIP_CONFIGURE` (the fixture's) stops `up` before SSH; the endpoint carrying
real traffic while a server is down is tests/providers/aws/test_balancer_testbed.py.
"""

from __future__ import annotations

import json
from typing import Any

from nomadctl.providers.aws.balancer import balancer_name
from tests.aws import checks
from tests.aws.checks import ok
from tests.aws.fixtures import AwsEnv

ALLOW = ("--allow-cidr", "203.0.113.0/24")
NET = ("--vpc-cidr", "198.18.0.0/16", "--subnet-cidr", "198.18.1.0/24")


def up(aws: AwsEnv, *args: str, cluster: str = "nlb", **kw: Any):  # type: ignore[no-untyped-def]
    return aws.nomadctl("--cluster", cluster, "up", "--yes", *ALLOW, *NET, *args, **kw)


def balancers(aws: AwsEnv, cluster: str = "nlb") -> tuple[list[Any], list[Any]]:
    return checks.balancers(aws, cluster)


def test_up_puts_a_network_load_balancer_in_front_of_the_servers(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only(lb_provisioning=1.0, target_initial=1.0)
    proc = ok(up(aws_env, "--json"))
    report = json.loads(proc.stdout)
    elb = aws_env.client("elbv2")
    (lb,), (group,) = balancers(aws_env)
    assert lb["LoadBalancerName"] == balancer_name("nlb")
    assert lb["Type"] == "network" and lb["Scheme"] == "internet-facing"
    subnets = checks.tagged(aws_env, "nlb")["subnets"]
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(subnets)
    assert len(subnets) == 3
    attributes = elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])
    assert {a["Key"]: a["Value"] for a in attributes["Attributes"]}[
        "load_balancing.cross_zone.enabled"
    ] == "true"
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("TCP", 4646)  # TCP: mTLS passes through
    assert listener["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    assert (group["Protocol"], group["Port"], group["HealthCheckProtocol"]) == ("TCP", 4646, "TCP")
    health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    servers = {
        i["InstanceId"]
        for i in checks.instances(aws_env, "nlb")
        if checks.tags_of(i)["nomadctl:role"] == "server"
    }
    assert {t["Target"]["Id"] for t in health["TargetHealthDescriptions"]} == servers
    # `up` waited for the load balancer: it was `provisioning` first (strict layer)
    assert any(r[:2] == ("DescribeLoadBalancers", "provisioning") for r in aws_env.strict.refused)
    # its health checks come from its addresses in the subnets: 4646 open to them
    (main,) = [
        g
        for g in aws_env.client("ec2").describe_security_groups(
            Filters=[{"Name": "tag:nomadctl:cluster", "Values": ["nlb"]}]
        )["SecurityGroups"]
        if g["GroupName"] == "nomadctl-nlb"
    ]
    api_from = {
        r["CidrIp"]
        for p in main["IpPermissions"]
        if p.get("FromPort") == 4646
        for r in p.get("IpRanges", [])
    }
    assert {"198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/24"} <= api_from
    # env and the workspace point at it
    address = f"https://{lb['DNSName']}:4646"
    assert checks.state(aws_env, "nlb")["api_endpoint"]["address"] == address
    env = ok(aws_env.nomadctl("--cluster", "nlb", "env"))
    assert f"export NOMAD_ADDR={address}" in env.stdout.splitlines()
    assert report["aws"]["changed"] is True

    again = json.loads(ok(up(aws_env, "--json")).stdout)
    assert again["aws"]["changed"] is False
    assert balancers(aws_env)[0][0]["LoadBalancerArn"] == lb["LoadBalancerArn"]


def test_the_plan_shows_the_load_balancer_and_its_cost(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    plan = json.loads(ok(up(aws_env, "--dry-run", "--json")).stdout)
    text = json.dumps(plan)
    assert '"load-balancer"' in text and '"target-group"' in text
    assert (plan.get("costs") or plan["plan"]["costs"])["load_balancer_usd_per_hour"] > 0
    assert not balancers(aws_env)[0]
    none = json.loads(ok(up(aws_env, "--dry-run", "--json", "--api-endpoint", "none")).stdout)
    assert '"load-balancer"' not in json.dumps(none)
    assert (none.get("costs") or none["plan"]["costs"])["load_balancer_usd_per_hour"] == 0


def test_down_deletes_the_load_balancer_and_its_target_group_and_is_safe_twice(
    aws_env: AwsEnv,
) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, "--servers", "1", "--clients", "0"))
    assert balancers(aws_env) != ([], [])
    aws_env.strict.windows.only(lb_drain=1.0, eni_detach=0.3)
    proc = ok(aws_env.nomadctl("--cluster", "nlb", "down", "--yes"))
    assert ("DeleteTargetGroup", "ResourceInUse") in {r[:2] for r in aws_env.strict.refused}
    assert "still in use" in proc.stderr
    assert balancers(aws_env) == ([], [])
    checks.assert_gone(aws_env, "nlb")
    assert "api_endpoint" not in checks.state(aws_env, "nlb")
    again = ok(aws_env.nomadctl("--cluster", "nlb", "down", "--yes"))
    assert "Nothing to delete" in again.stdout


def test_api_endpoint_none_makes_no_load_balancer(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.only()
    ok(up(aws_env, "--api-endpoint", "none", "--servers", "1", "--clients", "0"))
    assert balancers(aws_env) == ([], [])
    assert checks.state(aws_env, "nlb").get("api_endpoint") is None
    bad = up(aws_env, "--api-endpoint", "alb")
    assert bad.returncode == 2 and "--api-endpoint 'alb'" in bad.stderr


def test_a_load_balancer_of_that_name_made_by_someone_else_is_refused_first(
    aws_env: AwsEnv,
) -> None:
    aws_env.strict.windows.only()
    ec2 = aws_env.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    aws_env.client("elbv2").create_load_balancer(
        Name=balancer_name("nlb"), Subnets=[subnet], Type="network"
    )
    proc = up(aws_env)
    assert proc.returncode == 5
    line = checks.error_line(proc.stderr)
    assert f"load balancer {balancer_name('nlb')}" in line and "not made by nomadctl" in line
    checks.assert_gone(aws_env, "nlb")
    assert not [e for e in aws_env.proxy.log if e.action.startswith(("Create", "Run"))]


def test_without_public_ips_the_load_balancer_is_internal(aws_env: AwsEnv) -> None:
    """Issue 25 point 5 meets point 2: nodes without public IPs get an internal load balancer
    (reached from inside the VPC, like the nodes), and nomadctl's subnets map no public IPv4."""
    aws_env.strict.windows.only()
    plan = ok(up(aws_env, "--no-public-ip", "--ssh-address", "private", "--dry-run", cluster="prv"))
    assert "network, internal, TCP 4646" in plan.stdout
    ok(up(aws_env, "--no-public-ip", "--ssh-address", "private", cluster="prv"))
    (lb,), _ = balancers(aws_env, "prv")
    assert lb["Scheme"] == "internal"
    ids = checks.tagged(aws_env, "prv")["subnets"]
    subnets = aws_env.client("ec2").describe_subnets(SubnetIds=list(ids))["Subnets"]
    assert len(subnets) == 3 and not any(s["MapPublicIpOnLaunch"] for s in subnets)
    assert not any(i.get("PublicIpAddress") for i in checks.instances(aws_env, "prv"))
    ok(aws_env.nomadctl("--cluster", "prv", "down", "--yes"))
    checks.assert_gone(aws_env, "prv")
