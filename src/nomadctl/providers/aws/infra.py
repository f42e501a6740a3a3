"""The AWS infrastructure behind `aws.provider`: create, find, delete and list it by tag.

Entry points (all idempotent, all find what exists by the `nomadctl:cluster` tag):

- `apply(ws, opts, progress) -> list[Host]`: network, security groups, key pair, IAM role and
  instance profile, instances; every ID is written to `state.json["aws"]` the moment it exists.
  `provision()` is the same and also says what it created, changed or kept.
- `plan(ws, opts, progress)`: what exists and what `apply` would create; changes nothing.
- `destroy(cluster, region, progress)`: deletes everything tagged for the cluster, no
  workspace needed.
- `list_clusters(region)`: the clusters found by tag.

State written (`state.json`):

    provider: "aws"
    aws: region, vpc_id, vpc_owned, subnets [{id, zone, cidr}] (subnet_id, availability_zone:
         the first's), igw_id, route_table_id, sg_id, clients_sg_id, key_name, role_name,
         profile_name, client_profile, lb_arn, lb_dns, tg_arn, auto_join {tag_key, tag_value},
         instances {name: {id, role, type, private_ip, public_ip}}
    hosts: [Host.to_dict(), ...]        servers first, then clients
    ssh: {user, key_path}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nomadctl.errors import CloudError, UsageError
from nomadctl.hosts import Host
from nomadctl.providers import state as state_mod
from nomadctl.providers.aws import balancer as aws_balancer
from nomadctl.providers.aws import iam as aws_iam
from nomadctl.providers.aws import instances as aws_instances
from nomadctl.providers.aws import keys, publicip
from nomadctl.providers.aws import network as aws_network
from nomadctl.providers.aws import security as aws_security
from nomadctl.providers.aws import subnets as aws_subnets
from nomadctl.providers.aws.common import (
    TAG_AUTO_JOIN,
    TAG_CLUSTER,
    TAG_ROLE,
    Resource,
    Run,
    auto_join_value,
    find_instances,
    iam_name,
    instance_name,
    key_pair_name,
    tag_dict,
)
from nomadctl.providers.aws.errors import translated
from nomadctl.providers.aws.images import check_vcpu_quota, resolve_image
from nomadctl.providers.aws.instances import LaunchSpec
from nomadctl.providers.aws.myip import detect_public_cidr
from nomadctl.providers.aws.network import parse_vpc_cidrs
from nomadctl.providers.aws.security import normalise_cidrs, parse_port
from nomadctl.providers.aws.session import Aws
from nomadctl.providers.aws.subnets import subnet_cidrs
from nomadctl.validate import fits
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]

DEFAULT_SERVERS = 3
DEFAULT_CLIENTS = 3
DEFAULT_INSTANCE_TYPE = "t3.small"
DEFAULT_ROOT_VOLUME_GIB = 20
DEFAULT_SSH_USER = "ubuntu"
AMI_RE = re.compile(r"^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
CHANGED = {"created", "updated", "deleted"}
API_ENDPOINTS = ("nlb", "none")


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class AwsOptions:
    region: str | None = None  # None: the state's region, else AWS_REGION / the profile's
    profile: str | None = None
    vpc_cidr: str | None = None  # None: the existing VPC's, or 10.42.0.0/16 for a new one
    # one per zone, repeatable; None: the VPC's first free /24s (a single CIDR: the next
    # blocks of its size for the other zones)
    subnet_cidr: str | tuple[str, ...] | None = None
    vpc_id: str | None = None
    subnet_id: str | tuple[str, ...] | None = None  # yours, one per zone, repeatable
    availability_zone: str | None = None  # one zone: the same as --zones <zone>
    zones: str | None = None  # "3", "1", "a,b,c"; None: 3 for a new cluster, else as it is
    api_endpoint: str = "nlb"  # "nlb": a Network Load Balancer in front of the API; "none"
    allow_cidrs: tuple[str, ...] = ()  # empty: the operator's public IP, detected
    client_ports: tuple[str, ...] = ()
    ssh_key: Path | None = None
    servers: int = DEFAULT_SERVERS
    clients: int = DEFAULT_CLIENTS
    server_type: str = DEFAULT_INSTANCE_TYPE
    client_type: str = DEFAULT_INSTANCE_TYPE
    ami: str | None = None
    root_volume_size: int = DEFAULT_ROOT_VOLUME_GIB
    cpu_credits: str = "standard"  # T2/T3/T3a/T4g: "standard", or "unlimited" (billed surplus)
    public_ip: bool | None = None  # None: when the subnet routes to an internet gateway
    client_instance_profile: bool = False  # clients' own empty profile (kept once made)

    def validate(self) -> None:
        """Everything that can be checked without asking AWS; UsageError on the first problem."""

        if self.servers < 1 or self.servers % 2 == 0:
            raise UsageError(
                f"--servers {self.servers}: use an odd number (1, 3, 5...) so the servers "
                "can always elect a leader"
            )
        if self.clients < 0:
            raise UsageError(f"--clients {self.clients} cannot be negative")
        if not 8 <= self.root_volume_size <= 16384:
            raise UsageError(f"--root-volume-size {self.root_volume_size}: use 8 to 16384 GiB")
        if self.ami and not fits(AMI_RE, self.ami):
            raise UsageError(f"--ami {self.ami!r} is not an AMI id like ami-0123456789abcdef0")
        aws_subnets.check_layout(
            self.zones, self.availability_zone, self.subnet_ids, self.subnet_cidrs
        )
        if self.api_endpoint not in API_ENDPOINTS:
            raise UsageError(f"--api-endpoint {self.api_endpoint!r}: use nlb or none")
        if self.vpc_id and not self.subnet_id:
            raise UsageError(
                "--vpc-id needs --subnet-id too: nomadctl does not add subnets to your VPC"
            )
        if self.subnet_ids and (self.vpc_cidr or self.subnet_cidrs):
            raise UsageError("--vpc-cidr/--subnet-cidr make a new network; not with --subnet-id")
        if self.cpu_credits not in ("standard", "unlimited"):
            raise UsageError(f"--cpu-credits {self.cpu_credits!r}: use standard or unlimited")
        for cidr in self.subnet_cidrs or (None,):
            parse_vpc_cidrs(self.vpc_cidr, cidr)
        normalise_cidrs(list(self.allow_cidrs))
        for port in self.client_ports:
            parse_port(port)

    @property
    def subnet_ids(self) -> tuple[str, ...]:
        return subnet_cidrs(self.subnet_id)

    @property
    def subnet_cidrs(self) -> tuple[str, ...]:
        return subnet_cidrs(self.subnet_cidr)

    def wanted_zones(self) -> int | tuple[str, ...] | None:
        """--zones as a count or names; --availability-zone is one named zone."""
        return aws_subnets.wanted_zones(self.zones, self.availability_zone)


@dataclass
class Provisioned:
    """What `apply` (or `plan`) found, created and changed."""

    cluster: str
    region: str
    resources: list[Resource] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    dry_run: bool = False
    # What a plan read, handed to the `provision` that follows it so AWS is not asked twice:
    # the IDs found, the launch specs (images resolved), the detected --allow-cidr.
    seen: dict[str, Any] = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)  # how the layout may change (zones)
    api_endpoint: dict[str, str] | None = None  # the load balancer: address, dns_name

    @property
    def changed(self) -> bool:
        wanted = {"create", "update"} if self.dry_run else CHANGED
        return any(r.status in wanted or r.status == "replace" for r in self.resources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "region": self.region,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "resources": [r.to_dict() for r in self.resources],
            "hosts": [h.to_dict() for h in self.hosts],
        }


# ---- up --------------------------------------------------------------------------------------


def apply(ws: Workspace, opts: AwsOptions, progress: Progress = _quiet) -> list[Host]:
    """Create (or find) everything; the hosts, servers first. Idempotent."""
    return provision(ws, opts, progress).hosts


def plan(ws: Workspace, opts: AwsOptions, progress: Progress = _quiet) -> Provisioned:
    """What exists and what `apply` would create or change. Writes nothing anywhere."""
    return _run(ws, opts, progress, dry_run=True)


def provision(
    ws: Workspace,
    opts: AwsOptions,
    progress: Progress = _quiet,
    planned: Provisioned | None = None,
) -> Provisioned:
    """Create (or find) everything. With the `plan` shown to the user, what it read (IDs,
    images, checks, the public IP) is used, not asked again."""
    return _run(ws, opts, progress, dry_run=False, planned=planned)


def connect(region: str | None, profile: str | None):  # type: ignore[no-untyped-def]

    aws = Aws(region, profile)
    aws.check_credentials()
    return aws


def _region_for(ws: Workspace, opts: AwsOptions, state: dict[str, Any]) -> str | None:
    recorded = (state.get("aws") or {}).get("region")
    has_resources = bool((state.get("aws") or {}).get("vpc_id"))
    if opts.region and recorded and opts.region != recorded and has_resources:
        raise UsageError(
            f"cluster {ws.cluster!r} lives in {recorded} (per {ws.state_path}), not "
            f"--region {opts.region}; drop --region, or run `nomadctl down` first"
        )
    return opts.region or recorded


def _run(
    ws: Workspace,
    opts: AwsOptions,
    progress: Progress,
    dry_run: bool,
    planned: Provisioned | None = None,
) -> Provisioned:
    opts.validate()
    state = ws.load_state() if ws.state_path.exists() else {}
    seen = planned.seen if planned is not None else {}
    known: dict[str, Any] = {**(state.get("aws") or {}), **seen.get("known", {})}
    aws = seen.get("aws") or connect(_region_for(ws, opts, state), opts.profile)
    aws_state: dict[str, Any] = {**known, "region": aws.region}

    def record(changes: dict[str, Any]) -> None:
        aws_state.update(changes)
        if not dry_run:
            ws.update_state(provider="aws", aws=aws_state)

    run = Run(aws=aws, cluster=ws.cluster, progress=progress, record=record, dry_run=dry_run)
    result = Provisioned(ws.cluster, aws.region, run.resources, dry_run=dry_run)
    if not dry_run:
        ws.create()
        record({})

    allow = seen.get("allow") or aws_security.normalise_cidrs(list(opts.allow_cidrs))
    if not allow:
        progress("detecting your public IP for --allow-cidr")
        allow = [detect_public_cidr()]
    ports = [aws_security.parse_port(p) for p in opts.client_ports]
    vpc_cidr, _ = aws_network.parse_vpc_cidrs(opts.vpc_cidr, None)

    with translated(aws):
        types = sorted({opts.server_type, opts.client_type})
        if "specs" in seen:  # the plan checked images, zone, names and quota just now
            specs, existing = seen["specs"], seen["existing"]
        else:
            progress(f"checking images and instance types in {aws.region}")
            specs = _launch_specs(aws, opts)
            aws_subnets.check_named(aws, opts.wanted_zones(), types)  # before anything is made
            _preflight(run, balancer=opts.api_endpoint == "nlb")
            existing = find_instances(aws, ws.cluster)
            check_vcpu_quota(aws, _to_launch(ws.cluster, specs, existing), progress)
        result.seen = {"aws": aws, "allow": allow, "specs": specs, "existing": existing}

        progress("network")
        net = aws_network.ensure_network(
            run,
            vpc_cidr=vpc_cidr,
            subnet_cidrs=opts.subnet_cidrs,
            vpc_id=opts.vpc_id,
            subnet_ids=opts.subnet_ids,
            zones=opts.wanted_zones(),
            instance_types=types,
            known=known,
            public_ip=opts.public_ip is not False,  # nomadctl's own subnets map one or not
        )
        public = publicip.decide(aws, opts.public_ip, net)
        result.seen["public_ip"] = public
        result.notes = net.notes
        progress("security groups")
        lb_from = [s.cidr for s in net.subnets] if opts.api_endpoint == "nlb" else []  # checks
        sg_id, clients_sg_id = aws_security.ensure_security_groups(
            run, net.vpc_id, allow, ports, known, api_from=lb_from
        )
        auto_join = {
            "tag_key": TAG_AUTO_JOIN,
            "tag_value": auto_join_value(ws.cluster, sg_id or "<new group>"),
        }
        if sg_id:
            record({"auto_join": auto_join})

        progress("SSH key")
        key_name = _key_pair(run, ws, opts, state, bool(existing))

        progress("IAM role and instance profile")
        profile_name = aws_iam.ensure_instance_profile(run)
        client_profile = None
        if opts.client_instance_profile or known.get("client_profile"):
            client_profile = aws_iam.ensure_client_profile(run)
            record({"client_profile": client_profile})

        progress("instances")
        where = aws_instances.Placement(
            subnet_id=net.subnet_id,
            availability_zone=net.availability_zone,
            subnets=tuple((sub.id, sub.zone) for sub in net.subnets if sub.id),
            sg_id=sg_id,
            clients_sg_id=clients_sg_id,
            key_name=key_name,
            profile_name=profile_name,
            auto_join=auto_join,
            public_ip_on_launch=net.maps_public_ip,
            public_ip=public,
            client_profile_name=client_profile,
        )
        hosts = aws_instances.ensure_instances(run, specs, where, known)
        endpoint = _api_endpoint(run, opts, net, hosts, public)
    result.hosts = hosts
    result.api_endpoint = endpoint
    result.seen["known"] = {k: v for k, v in aws_state.items() if k != "region"}
    if not dry_run:
        ws.update_state(hosts=[h.to_dict() for h in hosts], api_endpoint=endpoint)
    return result


def _key_pair(run: Run, ws: Workspace, opts: AwsOptions, state: dict, existing: bool) -> str:
    key = keys.local_key(run, ws, opts.ssh_key)
    key_name = keys.ensure_key_pair(run, key, existing, str(key.private_path or opts.ssh_key))
    if not run.dry_run:
        ssh = dict(state.get("ssh") or {})
        ssh.setdefault("user", DEFAULT_SSH_USER)
        ssh["key_path"] = str(key.private_path) if key.private_path else None
        ws.update_state(ssh=ssh)
    return key_name


def _api_endpoint(
    run: Run, opts: AwsOptions, net: Any, hosts: list[Host], public: bool
) -> dict[str, str] | None:
    """The load balancer in front of the servers (unless --api-endpoint none): its address;
    internal when the nodes have no public IPs (private subnets)."""
    if opts.api_endpoint != "nlb":
        return None
    run.progress("load balancer")
    servers, ids = [h for h in hosts if h.role == "server"], [s.id for s in net.subnets if s.id]
    lb = aws_balancer.ensure_balancer(run, net.vpc_id, ids, servers, internal=not public)
    if not lb.dns_name or not lb.address:
        return None
    return {"address": lb.address, "dns_name": lb.dns_name}


def _to_launch(cluster: str, specs: list[Any], existing: list[dict[str, Any]]) -> dict[str, int]:
    """Instance type -> how many instances `up` would launch (names no live instance holds)."""

    have = {tag_dict(i.get("Tags")).get("Name") for i in existing}
    out: dict[str, int] = {}
    for spec in specs:
        for index in range(1, spec.count + 1):
            if instance_name(cluster, spec.role, index) not in have:
                out[spec.instance_type] = out.get(spec.instance_type, 0) + 1
    return out


def _launch_specs(aws: Any, opts: AwsOptions) -> list[Any]:
    images: dict[str, Any] = {}
    specs = []
    for role, count, itype in (
        ("server", opts.servers, opts.server_type),
        ("client", opts.clients, opts.client_type),
    ):
        if count == 0:
            continue
        if itype not in images:
            images[itype] = resolve_image(aws, opts.ami, itype)
        image = images[itype]
        if image.min_size and opts.root_volume_size < image.min_size:
            raise UsageError(
                f"--root-volume-size {opts.root_volume_size} is smaller than the AMI's "
                f"{image.min_size} GiB root snapshot"
            )
        specs.append(
            LaunchSpec(role, count, itype, image, opts.root_volume_size, opts.cpu_credits)  # type: ignore[arg-type]
        )
    return specs


def _preflight(run: Run, balancer: bool = False) -> None:
    """Refuse before creating anything when a fixed name belongs to someone else."""
    if balancer:
        aws_balancer.check_names(run)

    name = key_pair_name(run.cluster)
    pair = keys.describe_key_pair(run, name)
    if pair is not None and tag_dict(pair.get("Tags")).get(TAG_CLUSTER) != run.cluster:
        raise CloudError(
            f"key pair {name} in {run.aws.region} was not made by nomadctl for cluster "
            f"{run.cluster!r}; choose another --cluster name or delete that key pair"
        )
    iam = run.aws.iam
    role = aws_iam._get(iam.get_role, "Role", RoleName=iam_name(run.cluster))
    if role is not None:
        aws_iam._check_owner(run, "role", iam_name(run.cluster), role.get("Tags", []))
    profile = aws_iam._get(
        iam.get_instance_profile, "InstanceProfile", InstanceProfileName=iam_name(run.cluster)
    )
    if profile is not None:
        aws_iam._check_owner(
            run, "instance profile", iam_name(run.cluster), profile.get("Tags", [])
        )


# ---- down ------------------------------------------------------------------------------------


def resolve_region(
    region: str | None, profile: str | None, state: dict[str, Any] | None = None
) -> str:
    """The region `down`/`list` will use: explicit, else the cluster's recorded one (state.json
    aws.region), else AWS_REGION, AWS_DEFAULT_REGION or the profile's."""

    return Aws(region or state_mod.recorded_region(state or {}), profile).region


# ---- list ------------------------------------------------------------------------------------


@dataclass
class ClusterSummary:
    cluster: str
    region: str
    servers: dict[str, int] = field(default_factory=dict)  # instance state -> count
    clients: dict[str, int] = field(default_factory=dict)
    vpc_id: str | None = None
    resources: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "region": self.region,
            "servers": self.servers,
            "clients": self.clients,
            "vpc_id": self.vpc_id,
            "resources": self.resources,
        }


def list_clusters(region: str | None, profile: str | None = None) -> list[ClusterSummary]:
    """Every cluster with at least one resource tagged `nomadctl:cluster` in the region."""

    aws = connect(region, profile)
    has_tag = [{"Name": "tag-key", "Values": [TAG_CLUSTER]}]
    found: dict[str, ClusterSummary] = {}

    def summary(tag_list: Any) -> ClusterSummary | None:
        name = tag_dict(tag_list).get(TAG_CLUSTER)
        if not name:
            return None
        return found.setdefault(name, ClusterSummary(name, aws.region))

    with translated(aws):
        ec2 = aws.ec2
        for page in ec2.get_paginator("describe_instances").paginate(Filters=has_tag):
            for reservation in page["Reservations"]:
                for inst in reservation["Instances"]:
                    state = inst["State"]["Name"]
                    if state == "terminated":
                        continue
                    s = summary(inst.get("Tags"))
                    if s is None:
                        continue
                    s.resources += 1
                    role = tag_dict(inst.get("Tags")).get(TAG_ROLE)
                    bucket = s.servers if role == "server" else s.clients
                    bucket[state] = bucket.get(state, 0) + 1
        for vpc in ec2.describe_vpcs(Filters=has_tag)["Vpcs"]:
            s = summary(vpc.get("Tags"))
            if s is not None:
                s.resources += 1
                s.vpc_id = s.vpc_id or vpc["VpcId"]
        for call, key in (
            (ec2.describe_subnets, "Subnets"),
            (ec2.describe_security_groups, "SecurityGroups"),
            (ec2.describe_internet_gateways, "InternetGateways"),
            (ec2.describe_route_tables, "RouteTables"),
            (ec2.describe_key_pairs, "KeyPairs"),
        ):
            for item in call(Filters=has_tag)[key]:
                s = summary(item.get("Tags"))
                if s is not None:
                    s.resources += 1
                    if key == "SecurityGroups" and s.vpc_id is None:
                        s.vpc_id = item.get("VpcId")
    return sorted(found.values(), key=lambda s: s.cluster)
