"""The cluster's network: VPC, subnet, internet gateway, route table, or the user's own subnet.

Found by the `nomadctl:cluster` tag, created when missing, every ID recorded the moment it
exists. A user-supplied subnet (`--subnet-id`, optionally with `--vpc-id`) is used as it is and
never tagged, changed or deleted.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from nomadctl.errors import UsageError
from nomadctl.providers.aws.cidrs import (  # re-exported: callers parse CIDRs from here
    default_subnet_cidr,
    parse_network,
    parse_vpc_cidrs,
)
from nomadctl.providers.aws.common import (
    TAG_CLUSTER,
    Run,
    Teardown,
    client_token,
    cluster_filter,
    gone_ok,
    recorded,
    settle,
    tag_dict,
    tag_spec,
    tags,
)
from nomadctl.providers.aws.session import Aws, poll
from nomadctl.providers.aws.subnets import Subnet, ensure_subnets, existing_subnets

DEFAULT_VPC_CIDR = "10.42.0.0/16"
__all__ = ["default_subnet_cidr", "ensure_network", "parse_network", "parse_vpc_cidrs"]
DEFAULT_ROUTE = "0.0.0.0/0"  # egress: the route table's internet route, not an ingress rule


@dataclass
class Network:
    vpc_id: str | None  # None only in a dry run, before the VPC exists
    vpc_owned: bool
    subnets: list[Subnet] = field(default_factory=list)  # one per zone, in round-robin order
    igw_id: str | None = None
    route_table_id: str | None = None
    notes: list[str] = field(default_factory=list)  # for the plan: how the layout may move

    @property
    def subnet_id(self) -> str | None:
        return self.subnets[0].id if self.subnets else None

    @property
    def availability_zone(self) -> str | None:
        return self.subnets[0].zone if self.subnets else None

    @property
    def maps_public_ip(self) -> bool:  # the subnets give instances a public IPv4 address
        return all(s.maps_public_ip for s in self.subnets)


# ---- ensure ----------------------------------------------------------------------------------


def ensure_network(
    run: Run,
    *,
    vpc_cidr: ipaddress.IPv4Network | None,
    subnet_cidrs: tuple[str, ...],
    vpc_id: str | None,
    subnet_ids: tuple[str, ...],
    zones: int | tuple[str, ...] | None,
    instance_types: list[str],
    known: dict[str, Any],
    public_ip: bool = True,
) -> Network:
    if subnet_ids:
        vpc, subnets = existing_subnets(run, vpc_id, subnet_ids, instance_types)
        run.record(
            {
                "vpc_id": vpc,
                "vpc_owned": False,
                "subnets": [s.to_dict() for s in subnets],
                "subnet_id": subnets[0].id,
                "availability_zone": subnets[0].zone,
            }
        )
        return Network(vpc_id=vpc, vpc_owned=False, subnets=subnets)
    if vpc_id:
        raise UsageError(
            "--vpc-id needs --subnet-id too: nomadctl does not add subnets to your VPC"
        )
    vpc = _ensure_vpc(run, vpc_cidr, known)
    net = Network(vpc_id=vpc, vpc_owned=True)
    outer = vpc_cidr or ipaddress.IPv4Network(_vpc_cidr(run, net.vpc_id))
    net.subnets = ensure_subnets(
        run,
        net.vpc_id,
        outer,
        given_cidrs=subnet_cidrs,
        zones=zones,
        instance_types=instance_types,
        known=known,
        notes=net.notes,
        public_ip=public_ip,
    )
    _ensure_gateway(run, net, known)
    _ensure_routes(run, net, known)
    return net


def _ours(run: Run, items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [i for i in items or [] if tag_dict(i.get("Tags")).get(TAG_CLUSTER) == run.cluster]


def _find(
    run: Run, search: Any, key: str, recorded_id: str | None, by_id: str, **filters: Any
) -> list[dict[str, Any]]:
    """Ours by tag; else the ID state.json recorded, asked by ID (a tag search may not list a
    resource made seconds ago, so a re-run then would make a second one)."""
    items = list(search(Filters=filters["filters"])[key])
    if items or not recorded_id:
        return items
    return _ours(run, recorded(lambda: search(**{by_id: [recorded_id]})[key]))


def _pick(items: list[dict[str, Any]], id_key: str, preferred: str | None, run: Run, kind: str):
    if len(items) > 1:
        ids = sorted(i[id_key] for i in items)
        chosen = preferred if preferred in ids else ids[0]
        run.progress(
            f"warning: {len(items)} {kind}s tagged for cluster {run.cluster} "
            f"({', '.join(ids)}); using {chosen}; `nomadctl down` removes them all"
        )
        return next(i for i in items if i[id_key] == chosen)
    return items[0] if items else None


def _ensure_vpc(run: Run, cidr: ipaddress.IPv4Network | None, known: dict[str, Any]) -> str | None:
    ec2 = run.aws.ec2
    name = f"nomadctl-{run.cluster}"
    vpcs = _find(
        run,
        ec2.describe_vpcs,
        "Vpcs",
        known.get("vpc_id") if known.get("vpc_owned", True) else None,
        "VpcIds",
        filters=cluster_filter(run.cluster),
    )
    vpc = _pick(vpcs, "VpcId", known.get("vpc_id"), run, "VPC")
    if vpc:
        if cidr is not None and vpc["CidrBlock"] != str(cidr):
            raise UsageError(
                f"cluster {run.cluster!r} already has VPC {vpc['VpcId']} with CIDR "
                f"{vpc['CidrBlock']}, not --vpc-cidr {cidr}; drop the option or run `down` first"
            )
        run.record({"vpc_id": vpc["VpcId"], "vpc_owned": True})
        return run.found("vpc", name, vpc["VpcId"], vpc["CidrBlock"])
    cidr = cidr or ipaddress.IPv4Network(DEFAULT_VPC_CIDR)
    if run.dry_run:
        run.would_create("vpc", name, str(cidr))
        return None
    vpc = ec2.create_vpc(
        CidrBlock=str(cidr), TagSpecifications=[tag_spec("vpc", tags(run.cluster, name))]
    )["Vpc"]
    vpc_id = vpc["VpcId"]
    run.record({"vpc_id": vpc_id, "vpc_owned": True})
    poll(
        lambda: (
            True
            if settle(ec2.describe_vpcs, VpcIds=[vpc_id])["Vpcs"][0]["State"] == "available"
            else None
        ),
        what=f"VPC {vpc_id} to become available",
        timeout=120,
    )
    settle(ec2.modify_vpc_attribute, VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    return run.created("vpc", name, vpc_id, str(cidr))


def _vpc_cidr(run: Run, vpc_id: str | None) -> str:
    if vpc_id is None:
        return DEFAULT_VPC_CIDR
    return str(settle(run.aws.ec2.describe_vpcs, VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"])


def _ensure_gateway(run: Run, net: Network, known: dict[str, Any]) -> None:
    ec2 = run.aws.ec2
    name = f"nomadctl-{run.cluster}"
    igws = _find(
        run,
        ec2.describe_internet_gateways,
        "InternetGateways",
        known.get("igw_id"),
        "InternetGatewayIds",
        filters=cluster_filter(run.cluster),
    )
    igw = _pick(igws, "InternetGatewayId", None, run, "internet gateway")
    if igw:
        net.igw_id = igw["InternetGatewayId"]
        run.record({"igw_id": net.igw_id})
        attached = {a["VpcId"] for a in igw.get("Attachments", [])}
        if net.vpc_id in attached:
            run.found("internet-gateway", name, net.igw_id)
            return
        if not run.dry_run and net.vpc_id:
            settle(ec2.attach_internet_gateway, InternetGatewayId=net.igw_id, VpcId=net.vpc_id)
        run.changed("internet-gateway", name, net.igw_id, f"attached to {net.vpc_id}")
        return
    if run.dry_run or net.vpc_id is None:
        run.would_create("internet-gateway", name)
        return
    igw = ec2.create_internet_gateway(
        TagSpecifications=[tag_spec("internet-gateway", tags(run.cluster, name))]
    )["InternetGateway"]
    net.igw_id = igw["InternetGatewayId"]
    run.record({"igw_id": net.igw_id})
    settle(ec2.attach_internet_gateway, InternetGatewayId=net.igw_id, VpcId=net.vpc_id)
    run.created("internet-gateway", name, net.igw_id)


def _ensure_routes(run: Run, net: Network, known: dict[str, Any]) -> None:
    ec2 = run.aws.ec2
    name = f"nomadctl-{run.cluster}"
    tables = (
        _find(
            run,
            ec2.describe_route_tables,
            "RouteTables",
            known.get("route_table_id") if known.get("vpc_id") == net.vpc_id else None,
            "RouteTableIds",
            filters=[*cluster_filter(run.cluster), {"Name": "vpc-id", "Values": [net.vpc_id]}],
        )
        if net.vpc_id
        else []
    )
    table = _pick(tables, "RouteTableId", None, run, "route table")
    if table is None:
        if run.dry_run or net.vpc_id is None:
            run.would_create("route-table", name, f"{DEFAULT_ROUTE} via the internet gateway")
            return
        table = settle(  # CreateRouteTable takes a ClientToken: a lost answer cannot make two
            ec2.create_route_table,
            VpcId=net.vpc_id,
            TagSpecifications=[tag_spec("route-table", tags(run.cluster, name))],
            ClientToken=client_token(run.cluster, "route-table", net.vpc_id),
        )["RouteTable"]
        net.route_table_id = table["RouteTableId"]
        run.record({"route_table_id": net.route_table_id})
        run.created("route-table", name, net.route_table_id, f"{DEFAULT_ROUTE} via the gateway")
        created = True
    else:
        net.route_table_id = table["RouteTableId"]
        run.record({"route_table_id": net.route_table_id})
        created = False
    changes: list[str] = []
    route = next(
        (r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == DEFAULT_ROUTE),
        None,
    )
    if route is None or route.get("GatewayId") != net.igw_id:
        changes.append(f"route {DEFAULT_ROUTE} via {net.igw_id or 'the gateway'}")
        if not run.dry_run and net.igw_id:
            call = ec2.create_route if route is None else ec2.replace_route
            settle(
                call,
                RouteTableId=net.route_table_id,
                DestinationCidrBlock=DEFAULT_ROUTE,
                GatewayId=net.igw_id,
            )
    associated = {a.get("SubnetId") for a in table.get("Associations", [])}
    for subnet in net.subnets:
        if subnet.id in associated:
            continue
        changes.append(f"associated with {subnet.id or 'the subnet in ' + subnet.zone}")
        if not run.dry_run and subnet.id:
            settle(ec2.associate_route_table, RouteTableId=net.route_table_id, SubnetId=subnet.id)
    if created:
        return
    if changes:
        run.changed("route-table", name, net.route_table_id, "; ".join(changes))
    else:
        run.found("route-table", name, net.route_table_id, f"{DEFAULT_ROUTE} via the gateway")


# ---- delete ----------------------------------------------------------------------------------


def find_network(aws: Aws, cluster: str) -> dict[str, list[dict[str, Any]]]:
    ec2 = aws.ec2
    f = cluster_filter(cluster)
    return {
        "route_tables": ec2.describe_route_tables(Filters=f)["RouteTables"],
        "igws": ec2.describe_internet_gateways(Filters=f)["InternetGateways"],
        "subnets": ec2.describe_subnets(Filters=f)["Subnets"],
        "vpcs": ec2.describe_vpcs(Filters=f)["Vpcs"],
    }


def destroy_network(down: Teardown) -> None:
    """Route tables, internet gateways, subnets, VPCs tagged for the cluster, in that order."""
    ec2 = down.aws.ec2
    found = find_network(down.aws, down.cluster)
    for table in found["route_tables"]:
        rid = table["RouteTableId"]
        name = tag_dict(table.get("Tags")).get("Name", rid)

        def detach_table(rid: str = rid) -> None:  # associations re-read on every attempt
            for current in ec2.describe_route_tables(RouteTableIds=[rid])["RouteTables"]:
                for assoc in current.get("Associations", []):
                    if not assoc.get("Main") and assoc.get("RouteTableAssociationId"):
                        gone_ok(
                            ec2.disassociate_route_table,
                            AssociationId=assoc["RouteTableAssociationId"],
                        )

        down.delete(
            "route-table",
            name,
            rid,
            lambda rid=rid: ec2.delete_route_table(RouteTableId=rid),
            prepare=detach_table,
            drain=True,
        )
    for igw in found["igws"]:
        gid = igw["InternetGatewayId"]
        name = tag_dict(igw.get("Tags")).get("Name", gid)

        def detach_gateway(gid: str = gid) -> None:  # attachments re-read on every attempt
            gateways = ec2.describe_internet_gateways(InternetGatewayIds=[gid])
            for current in gateways["InternetGateways"]:
                for attachment in current.get("Attachments", []):
                    gone_ok(
                        ec2.detach_internet_gateway,
                        also=("Gateway.NotAttached",),
                        InternetGatewayId=gid,
                        VpcId=attachment["VpcId"],
                    )

        down.delete(
            "internet-gateway",
            name,
            gid,
            lambda gid=gid: ec2.delete_internet_gateway(InternetGatewayId=gid),
            prepare=detach_gateway,
            drain=True,
        )
    for subnet in found["subnets"]:
        sid = subnet["SubnetId"]
        name = tag_dict(subnet.get("Tags")).get("Name", sid)
        down.delete(
            "subnet", name, sid, lambda sid=sid: ec2.delete_subnet(SubnetId=sid), drain=True
        )
    for vpc in found["vpcs"]:
        vid = vpc["VpcId"]
        name = tag_dict(vpc.get("Tags")).get("Name", vid)
        down.delete("vpc", name, vid, lambda vid=vid: ec2.delete_vpc(VpcId=vid), drain=True)
