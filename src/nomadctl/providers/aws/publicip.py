"""Whether the cluster's nodes get a public IPv4 address (issue 25 point 5).

A public IPv4 is billed (USD 0.005/hour since February 2024) and reaches the node only when
its subnet routes to an internet gateway: a subnet whose route table (its own association,
else the VPC's main table: "Subnet route tables", VPC User Guide) has no `0.0.0.0/0 -> igw-`
route is private, and a public address there is money for nothing (and refused outright by
organisations whose SCPs forbid public IPs). So:

- `--public-ip` / `--no-public-ip` decide;
- else a network nomadctl made (it has its internet gateway) gets public IPs, and your own
  subnet gets them only when it routes to an internet gateway.

Without public IPs, nomadctl reaches the nodes through `--bastion` or from inside the VPC
(`--ssh-address private`); the plan refuses before anything changes when neither is given.
"""

from __future__ import annotations

from typing import Any

from nomadctl.errors import UsageError
from nomadctl.providers.aws.session import Aws


def routes_to_internet(aws: Aws, subnet_id: str, vpc_id: str) -> bool:
    """The subnet's route table (or the VPC's main one) sends 0.0.0.0/0 to an internet gateway."""
    ec2 = aws.ec2
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["RouteTables"]
    if not tables:
        tables = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"]
    return any(_is_internet(route) for table in tables for route in table.get("Routes", []))


def _is_internet(route: dict[str, Any]) -> bool:
    return (
        route.get("DestinationCidrBlock") == "0.0.0.0/0"
        and str(route.get("GatewayId", "")).startswith("igw-")
        and route.get("State", "active") == "active"
    )


def decide(aws: Aws, asked: bool | None, net: Any) -> bool:
    """Whether nodes get a public IPv4: `asked`, else whether every subnet (one per zone)
    reaches the internet; one private subnet makes the cluster private (its nodes would be
    unreachable from here anyway, and `check_reach` then wants a way in)."""
    if net.vpc_owned or not net.subnet_id:  # nomadctl's own network has its gateway
        return True if asked is None else asked
    ids = [s.id for s in getattr(net, "subnets", ()) if s.id] or [net.subnet_id]
    private = [sid for sid in ids if not routes_to_internet(aws, sid, net.vpc_id)]
    if asked and private:
        raise UsageError(
            f"--public-ip: subnet {', '.join(private)} has no route to an internet gateway, so "
            "a public IPv4 there would be billed and unreachable; drop the option (nodes are "
            "then reached through --bastion or from inside the VPC)"
        )
    return not private if asked is None else asked


def check_reach(public: bool, subnet_id: str | None, bastion: str | None, address: str) -> None:
    """Without public IPs, SSH needs a way in: a bastion, or this machine inside the VPC."""
    if public or bastion or address == "private":
        return
    why = (
        f"subnet {subnet_id} has no route to an internet gateway" if subnet_id else "--no-public-ip"
    )
    raise UsageError(
        f"{why}: the nodes get no public IPv4, so nomadctl cannot reach them from here; "
        "pass --bastion HOST, or run inside the VPC with --ssh-address private"
    )
