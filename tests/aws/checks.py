"""What exists in moto for a cluster, asked the way a user would ask AWS (boto3 over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nomadctl.providers.aws.common import TAG_CLUSTER, iam_name, key_pair_name


def ok(proc):  # type: ignore[no-untyped-def]
    """A finished nomadctl subprocess that succeeded, without a traceback."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def error_line(stderr: str) -> str:
    """The one `error:` line a failed command prints, last (progress lines may precede it)."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert stderr.rstrip().endswith(errors[0]), stderr
    return errors[0]


LIVE = ["pending", "running", "stopping", "stopped", "shutting-down"]


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


def instances(env: Any, cluster: str, region: str | None = None) -> list[dict[str, Any]]:
    ec2 = env.client("ec2", region)
    out = []
    for r in ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]},
            {"Name": "instance-state-name", "Values": LIVE},
        ]
    )["Reservations"]:
        out.extend(r["Instances"])
    return out


def names(insts: list[dict[str, Any]]) -> list[str]:
    return sorted(tags_of(i).get("Name", "") for i in insts)


def tagged(env: Any, cluster: str, region: str | None = None) -> dict[str, list[str]]:
    """Every EC2 resource tagged for the cluster, by kind (empty lists when none)."""
    ec2 = env.client("ec2", region)
    f = [{"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]}]
    return {
        "instances": [i["InstanceId"] for i in instances(env, cluster, region)],
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=f)["Vpcs"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=f)["Subnets"]],
        "igws": [
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways(Filters=f)["InternetGateways"]
        ],
        "route_tables": [
            t["RouteTableId"] for t in ec2.describe_route_tables(Filters=f)["RouteTables"]
        ],
        "security_groups": [
            g["GroupId"] for g in ec2.describe_security_groups(Filters=f)["SecurityGroups"]
        ],
        "key_pairs": [k["KeyName"] for k in ec2.describe_key_pairs(Filters=f)["KeyPairs"]],
        "volumes": [
            v["VolumeId"]
            for v in ec2.describe_volumes(Filters=f)["Volumes"]
            if v["State"] != "deleted"
        ],
        **{
            k: [x[a] for x in v]
            for (k, a), v in zip(ARNS, balancers(env, cluster, region), strict=True)
        },
    }


ARNS = (("load_balancers", "LoadBalancerArn"), ("target_groups", "TargetGroupArn"))


def balancers(env: Any, cluster: str, region: str | None = None) -> tuple[list[Any], list[Any]]:
    """The cluster's load balancers and target groups (elbv2 has no tag filter: DescribeTags)."""
    elb = env.client("elbv2", region)
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    groups = elb.describe_target_groups()["TargetGroups"]
    arns = [x["LoadBalancerArn"] for x in lbs] + [x["TargetGroupArn"] for x in groups]
    ours = set()
    for start in range(0, len(arns), 20):
        for d in elb.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]:
            if tags_of(d).get(TAG_CLUSTER) == cluster:
                ours.add(d["ResourceArn"])
    return (
        [x for x in lbs if x["LoadBalancerArn"] in ours],
        [x for x in groups if x["TargetGroupArn"] in ours],
    )


def iam_exists(env: Any, cluster: str) -> dict[str, bool]:
    iam = env.client("iam")
    name = iam_name(cluster)
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    profiles = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    return {"role": name in roles, "profile": name in profiles}


def key_pair_exists(env: Any, cluster: str, region: str | None = None) -> bool:
    pairs = env.client("ec2", region).describe_key_pairs()["KeyPairs"]
    return key_pair_name(cluster) in {k["KeyName"] for k in pairs}


def assert_gone(env: Any, cluster: str, region: str | None = None) -> None:
    left = {k: v for k, v in tagged(env, cluster, region).items() if v}
    assert not left, f"left behind for {cluster}: {left}"
    assert not key_pair_exists(env, cluster, region)
    assert iam_exists(env, cluster) == {"role": False, "profile": False}


def assert_complete(env: Any, cluster: str, servers: int = 3, clients: int = 3) -> None:
    insts = instances(env, cluster)
    expected = [f"{cluster}-client-{i}" for i in range(1, clients + 1)]
    expected += [f"{cluster}-server-{i}" for i in range(1, servers + 1)]
    assert names(insts) == sorted(expected)
    assert all(i["State"]["Name"] == "running" for i in insts)
    found = tagged(env, cluster)
    for kind in ("vpcs", "igws", "route_tables", "key_pairs"):
        assert len(found[kind]) == 1, (kind, found[kind])
    assert_spread(env, cluster, insts, found["subnets"])
    assert len(found["security_groups"]) == 2
    assert iam_exists(env, cluster) == {"role": True, "profile": True}


def assert_spread(env: Any, cluster: str, insts: list[dict[str, Any]], subnet_ids: list[str]):  # type: ignore[no-untyped-def]
    """One subnet per zone; every instance in one of them; each role round-robin over them
    (node N in the ((N - 1) mod zones)-th subnet, so servers are one per zone)."""
    subnets = env.client("ec2").describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    zones = [s["AvailabilityZone"] for s in subnets]
    assert 1 <= len(subnets) <= 3 and len(set(zones)) == len(zones), zones
    assert {i["SubnetId"] for i in insts} <= set(subnet_ids)
    for role in ("server", "client"):
        mine = [i for i in insts if tags_of(i).get("nomadctl:role") == role]
        used = {i["Placement"]["AvailabilityZone"] for i in mine}
        assert len(used) == min(len(mine), len(zones)), (role, used, zones)
    return zones


def state(env: Any, cluster: str) -> dict[str, Any]:
    path = Path(env.home) / cluster / "state.json"
    return dict(json.loads(path.read_text()))
