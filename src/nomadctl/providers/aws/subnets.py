"""The cluster's subnets: one per Availability Zone, in up to three zones by default.

HashiCorp's reference architecture puts the servers one per zone over three zones; kops and
eksctl spread their nodes the same way. `up` makes one subnet per zone in the zones that offer
every instance type the cluster uses (`DescribeInstanceTypeOfferings`, LocationType
availability-zone), and the instances go round-robin over them (launch.py). `--zones N` asks
for N zones, `--zones a,b,c` (or full names) for those, `--zones 1` for the one-subnet layout
of earlier releases. A cluster that already has its subnets keeps their zones unless `--zones`
asks for more: new zones are added, nodes that run are never moved. `--subnet-id` (repeatable,
one per zone) uses your own subnets, left alone by `down`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from nomadctl.errors import CloudError, UsageError
from nomadctl.providers.aws import retried
from nomadctl.providers.aws.cidrs import default_subnet_cidr, parse_network
from nomadctl.providers.aws.common import (
    TAG_CLUSTER,
    Run,
    cluster_filter,
    settle,
    tag_dict,
    tag_spec,
    tags,
)
from nomadctl.providers.aws.errors import error_code
from nomadctl.providers.aws.session import Aws

DEFAULT_ZONES = 3
MAX_ZONES = 6  # the most zones any region has (us-east-1)
ZONE_RE = re.compile(r"^(?:[a-z]{2}(?:-[a-z]+)+-\d+-?[a-z0-9]*[a-z]|[a-z])$")


@dataclass(frozen=True)
class Subnet:
    """One of the cluster's subnets: where a round-robin share of the nodes is launched."""

    id: str | None  # None in a dry run, before it exists
    zone: str
    cidr: str
    maps_public_ip: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "zone": self.zone, "cidr": self.cidr}


def parse_zones(value: str | None) -> int | tuple[str, ...] | None:
    """`--zones`: a count ("3"), or zone names ("a,b,c" or "eu-west-1a,eu-west-1b"); None
    means the default (three for a new cluster, the zones it has for an existing one)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= MAX_ZONES:
            raise UsageError(f"--zones {text}: use 1 to {MAX_ZONES}, or zone names like a,b,c")
        return count
    names = [n.strip() for n in text.split(",")]
    for name in names:
        if not ZONE_RE.match(name):
            raise UsageError(
                f"--zones {text!r}: {name!r} is not a zone name (e.g. eu-west-1a, or just a)"
            )
    if len(set(names)) != len(names):
        raise UsageError(f"--zones {text!r} names a zone twice")
    return tuple(names)


def wanted_zones(zones: str | None, availability_zone: str | None) -> int | tuple[str, ...] | None:
    """--zones as a count or names; --availability-zone is one named zone."""
    if availability_zone:
        named = parse_zones(availability_zone)
        if not isinstance(named, tuple) or len(named) != 1:
            raise UsageError(
                f"--availability-zone {availability_zone!r}: one zone name, e.g. eu-west-1b "
                "(several: --zones)"
            )
        return named
    return parse_zones(zones)


def check_layout(
    zones: str | None,
    availability_zone: str | None,
    subnet_ids: tuple[str, ...],
    cidrs: tuple[str, ...],
) -> None:
    """The zone options, checked before anything is asked of AWS."""
    if zones and availability_zone:
        raise UsageError("--availability-zone is one zone: use --zones alone")
    if subnet_ids and (zones or availability_zone):
        raise UsageError(
            "--zones/--availability-zone with --subnet-id: your subnets decide the zones; drop one"
        )
    if len(cidrs) > MAX_ZONES or len(subnet_ids) > MAX_ZONES:
        raise UsageError(f"--subnet-cidr/--subnet-id: at most {MAX_ZONES}, one per zone")
    wanted_zones(zones, availability_zone)


def subnet_cidrs(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


# ---- zones -----------------------------------------------------------------------------------


def available_zones(aws: Aws) -> list[str]:
    """The region's Availability Zones that are up (no Local or Wavelength zones)."""
    found = aws.ec2.describe_availability_zones(
        Filters=[
            {"Name": "zone-type", "Values": ["availability-zone"]},
            {"Name": "state", "Values": ["available"]},
        ]
    )["AvailabilityZones"]
    return sorted(z["ZoneName"] for z in found)


def offerings(aws: Aws, instance_types: list[str]) -> dict[str, set[str]]:
    """Zone -> which of `instance_types` it offers (one paginated DescribeInstanceTypeOfferings)."""
    offered: dict[str, set[str]] = {}
    paginator = aws.ec2.get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": sorted(set(instance_types))}],
    ):
        for offer in page["InstanceTypeOfferings"]:
            offered.setdefault(offer["Location"], set()).add(offer["InstanceType"])
    return offered


def full_names(aws: Aws, names: tuple[str, ...], zones: list[str]) -> list[str]:
    """`a` -> `eu-west-1a`; every name checked against the region's zones."""
    out = []
    for name in names:
        full = aws.region + name if len(name) == 1 else name
        if full not in zones:
            raise UsageError(
                f"--zones: {name} is not an available zone of {aws.region} "
                f"(zones: {', '.join(zones) or 'none'})"
            )
        out.append(full)
    return out


def pick_zones(
    aws: Aws, wanted: int | tuple[str, ...], instance_types: list[str], have: list[str]
) -> list[str]:
    """The zones the cluster should have: `have` (kept, in their order) then new ones.

    Named zones must offer every instance type; a count takes the first zones (by name) that
    offer them all, up to the count (fewer when the region has fewer such zones)."""
    zones = available_zones(aws)
    offered = offerings(aws, instance_types)
    need = set(instance_types)
    fit = [z for z in zones if need <= offered.get(z, set())]
    if isinstance(wanted, tuple):
        names = full_names(aws, wanted, zones)
        for zone in names:
            missing = need - offered.get(zone, set())
            if missing and zone not in have:
                raise CloudError(
                    f"instance type {', '.join(sorted(missing))} is not offered in {zone}: "
                    f"zones of {aws.region} that offer {', '.join(sorted(need))}: "
                    f"{', '.join(fit) or 'none'}"
                )
        return [*have, *(z for z in names if z not in have)]
    extra = [z for z in fit if z not in have][: max(0, wanted - len(have))]
    if not have and not extra:
        raise CloudError(
            f"no zone of {aws.region} offers {', '.join(sorted(need))}: "
            "pick other --server-type/--client-type values"
        )
    return [*have, *extra]


def check_named(aws: Aws, wanted: int | tuple[str, ...] | None, instance_types: list[str]) -> None:
    """Named zones: checked (names, offerings) before anything is created."""
    if isinstance(wanted, tuple):
        pick_zones(aws, wanted, instance_types, [])


# ---- your own subnets ------------------------------------------------------------------------


def existing_subnets(
    run: Run, vpc_id: str | None, subnet_ids: tuple[str, ...], instance_types: list[str]
) -> tuple[str, list[Subnet]]:
    """`--subnet-id`, repeatable: one subnet per zone, all in one VPC, each zone offering every
    instance type (else RunInstances fails with Unsupported after the rest exists)."""
    from botocore.exceptions import ClientError

    try:
        found = run.aws.ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
    except ClientError as exc:
        if error_code(exc).startswith("InvalidSubnetID"):
            raise CloudError(
                f"subnet {', '.join(subnet_ids)} not found in {run.aws.region}"
            ) from None
        raise
    by_id = {s["SubnetId"]: s for s in found}
    subnets = [by_id[i] for i in subnet_ids]
    vpcs = sorted({s["VpcId"] for s in subnets})
    if len(vpcs) > 1:
        raise UsageError(f"--subnet-id: the subnets are in different VPCs ({', '.join(vpcs)})")
    if vpc_id and vpcs[0] != vpc_id:
        raise UsageError(f"subnet {subnet_ids[0]} is in {vpcs[0]}, not in --vpc-id {vpc_id}")
    zones = [s["AvailabilityZone"] for s in subnets]
    twice = sorted({z for z in zones if zones.count(z) > 1})
    if twice:
        raise UsageError(f"--subnet-id: give one subnet per zone ({twice[0]} has two)")
    offered = offerings(run.aws, instance_types)
    run.found("vpc", "(yours)", vpcs[0], "yours: left alone by down")
    out = []
    for s in subnets:
        zone = s["AvailabilityZone"]
        missing = sorted(set(instance_types) - offered.get(zone, set()))
        if missing:
            raise CloudError(
                f"instance type {', '.join(missing)} is not offered in {zone}, the zone of "
                f"--subnet-id {s['SubnetId']}: pick another instance type or a subnet in "
                "another zone"
            )
        out.append(Subnet(s["SubnetId"], zone, s["CidrBlock"], bool(s.get("MapPublicIpOnLaunch"))))
        run.found(
            "subnet", "(yours)", s["SubnetId"], f"{s['CidrBlock']} in {zone}, yours: left alone"
        )
    return vpcs[0], out


# ---- ours ------------------------------------------------------------------------------------


def _ours(run: Run, vpc_id: str, known: dict[str, Any]) -> list[dict[str, Any]]:
    """The cluster's subnets in the VPC, by tag, else by the IDs state.json recorded (a tag
    search may not list a subnet made seconds ago), in the order state.json has them."""
    ec2 = run.aws.ec2
    listed = ec2.describe_subnets(
        Filters=[*cluster_filter(run.cluster), {"Name": "vpc-id", "Values": [vpc_id]}]
    )["Subnets"]
    recorded = [s.get("id") for s in known.get("subnets") or [] if s.get("id")]
    if known.get("subnet_id") and known["subnet_id"] not in recorded:
        recorded.insert(0, known["subnet_id"])
    if known.get("vpc_id") != vpc_id:
        recorded = []
    missing = [i for i in recorded if i not in {s["SubnetId"] for s in listed}]
    if missing:
        from botocore.exceptions import ClientError

        for sid in missing:
            try:
                got = settle(ec2.describe_subnets, SubnetIds=[sid], timeout=15.0)["Subnets"]
            except ClientError as exc:
                if error_code(exc).startswith("InvalidSubnetID"):
                    continue
                raise
            listed += [s for s in got if tag_dict(s.get("Tags")).get(TAG_CLUSTER) == run.cluster]
    order = {sid: n for n, sid in enumerate(recorded)}
    return sorted(listed, key=lambda s: (order.get(s["SubnetId"], len(order)), s["SubnetId"]))


def _cidrs_for(
    vpc: ipaddress.IPv4Network, given: tuple[str, ...], count: int, taken: list[str]
) -> list[ipaddress.IPv4Network]:
    """`count` CIDRs for new subnets: the given ones in order (each next one of the same size
    after the last given), else the VPC's /24s; none overlapping a subnet that exists."""
    used = [ipaddress.ip_network(c) for c in taken]
    if given:
        candidates = iter(_expanded(given, count + len(used)))
    else:
        first = default_subnet_cidr(vpc)
        candidates = iter(vpc.subnets(new_prefix=first.prefixlen))
    out: list[ipaddress.IPv4Network] = []
    for block in candidates:
        if len(out) == count:
            break
        if any(block.overlaps(u) for u in used + out):
            continue
        if not block.subnet_of(vpc):  # type: ignore[arg-type]
            raise UsageError(f"--subnet-cidr {block} is not inside the VPC's CIDR {vpc}")
        out.append(block)  # type: ignore[arg-type]
    if len(out) < count:
        raise UsageError(f"the VPC's CIDR {vpc} has no room for {count} more subnet(s)")
    return out


def ensure_subnets(
    run: Run,
    vpc_id: str | None,
    vpc_cidr: ipaddress.IPv4Network,
    *,
    given_cidrs: tuple[str, ...],
    zones: int | tuple[str, ...] | None,
    instance_types: list[str],
    known: dict[str, Any],
    notes: list[str],
    public_ip: bool = True,
) -> list[Subnet]:
    """One subnet per zone; what exists is kept (and checked against --subnet-cidr). Each maps
    a public IPv4 on launch only when the cluster wants public IPs (`public_ip`, issue 25
    point 5): a subnet of ours that says otherwise is changed."""
    name = f"nomadctl-{run.cluster}"
    found = _ours(run, vpc_id, known) if vpc_id else []
    have: list[dict[str, Any]] = []
    for s in found:  # one per zone: a second subnet in a zone (by hand) is left unused
        if s["AvailabilityZone"] not in {h["AvailabilityZone"] for h in have}:
            have.append(s)
    if given_cidrs:
        allowed = {str(b) for b in _expanded(given_cidrs, len(found) + MAX_ZONES)}
        for s in have:
            if s["CidrBlock"] not in allowed:
                raise UsageError(
                    f"cluster {run.cluster!r} already has subnet {s['SubnetId']} with CIDR "
                    f"{s['CidrBlock']}, not --subnet-cidr {given_cidrs[0]}; drop the option or "
                    "run `down` first"
                )
    have_zones = [s["AvailabilityZone"] for s in have]
    if zones is None:
        zones = len(have_zones) or DEFAULT_ZONES
        if have_zones and len(have_zones) < DEFAULT_ZONES:
            notes.append(
                f"cluster {run.cluster!r} has subnets in {len(have_zones)} zone(s) "
                f"({', '.join(have_zones)}); `nomadctl up --zones {DEFAULT_ZONES}` adds subnets "
                "in more zones: nodes that run stay where they are, nodes launched after go "
                "round-robin over the zones"
            )
    target = pick_zones(run.aws, zones, instance_types, have_zones)
    out: list[Subnet] = []
    for s in have:
        sid, zone = s["SubnetId"], s["AvailabilityZone"]
        detail = f"{s['CidrBlock']} in {zone}"
        if bool(s.get("MapPublicIpOnLaunch")) != public_ip:
            if not run.dry_run:
                _map_public(run, sid, public_ip)
            run.changed(
                "subnet", name, sid, "public IPs on launch" if public_ip else "no public IPs"
            )
        else:
            run.found("subnet", name, sid, detail)
        out.append(Subnet(sid, zone, s["CidrBlock"], public_ip))
    new_zones = [z for z in target if z not in have_zones]
    if new_zones and have:
        notes.append(
            f"new subnets in {', '.join(new_zones)}: nodes that run stay in "
            f"{', '.join(have_zones)}; nodes launched from now on go round-robin over "
            f"{', '.join(target)}"
        )
    taken = [s["CidrBlock"] for s in found]
    taken += _vpc_subnet_cidrs(run, vpc_id) if vpc_id and new_zones else []
    cidrs = _cidrs_for(vpc_cidr, given_cidrs, len(new_zones), taken)
    for zone, cidr in zip(new_zones, cidrs, strict=True):
        if run.dry_run or vpc_id is None:
            run.would_create("subnet", name, f"{cidr} in {zone}")
            out.append(Subnet(None, zone, str(cidr), public_ip))
            continue
        subnet = retried.create_subnet(  # a lost answer's retry meets InvalidSubnet.Conflict
            run,
            VpcId=vpc_id,
            CidrBlock=str(cidr),
            AvailabilityZone=zone,
            TagSpecifications=[tag_spec("subnet", tags(run.cluster, name))],
        )
        sid = subnet["SubnetId"]
        out.append(Subnet(sid, zone, str(cidr), public_ip))
        run.record(record_of(out))
        if public_ip and not subnet.get("MapPublicIpOnLaunch"):
            _map_public(run, sid, True)
        run.created("subnet", name, sid, f"{cidr} in {zone}")
    run.record(record_of(out))
    return out


def _map_public(run: Run, subnet_id: str, on: bool) -> None:
    settle(
        run.aws.ec2.modify_subnet_attribute,
        SubnetId=subnet_id,
        MapPublicIpOnLaunch={"Value": on},
    )


def record_of(subnets: list[Subnet]) -> dict[str, Any]:
    """What state.json keeps: every subnet, and the first one's ID and zone as before."""
    made = [s for s in subnets if s.id]
    if not made:
        return {}
    return {
        "subnets": [s.to_dict() for s in made],
        "subnet_id": made[0].id,
        "availability_zone": made[0].zone,
    }


def _expanded(given: tuple[str, ...], count: int) -> list[ipaddress.IPv4Network]:
    blocks = [parse_network(c, "--subnet-cidr") for c in given]
    last = blocks[-1]
    while len(blocks) < count:
        last = ipaddress.ip_network(f"{last.network_address + last.num_addresses}/{last.prefixlen}")
        blocks.append(last)
    return blocks  # type: ignore[return-value]


def _vpc_subnet_cidrs(run: Run, vpc_id: str) -> list[str]:
    """Every subnet of the VPC, ours or not: a new one must overlap none of them."""
    found = settle(run.aws.ec2.describe_subnets, Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "Subnets"
    ]
    return [s["CidrBlock"] for s in found]
