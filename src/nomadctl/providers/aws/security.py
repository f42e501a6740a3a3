"""The cluster's security groups and their rules.

- `nomadctl-<cluster>` (every node): SSH 22/tcp and the Nomad HTTP API 4646/tcp from the
  allowed CIDRs only, and all traffic between members of this group (RPC 4647, Serf 4648,
  workloads). Other rules someone added by hand are left alone.
- `nomadctl-<cluster>-clients` (clients only): the `--client-port` ports from the allowed CIDRs.
  This group is managed as a whole: ports not asked for any more are closed.

Egress stays AWS's default (everything), which package installs need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nomadctl.errors import CloudError, UsageError
from nomadctl.providers.aws.common import (
    TAG_CLUSTER,
    Run,
    Teardown,
    clients_sg_name,
    cluster_filter,
    gone_ok,
    recorded,
    settle,
    sg_name,
    tag_dict,
    tag_spec,
    tags,
)
from nomadctl.providers.aws.errors import error_code
from nomadctl.providers.aws.network import parse_network
from nomadctl.providers.aws.session import Aws, poll

SSH_PORT = 22
NOMAD_HTTP_PORT = 4646
ALL = "-1"

# (protocol, from port, to port, source): source is a CIDR or a security group id
Rule = tuple[str, int | None, int | None, str]


@dataclass(frozen=True)
class PortRange:
    low: int
    high: int

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


def parse_port(value: str) -> PortRange:
    """`8080` or `8000-8100` (TCP)."""
    text = str(value).strip()
    try:
        low, _, high = text.partition("-")
        port = PortRange(int(low), int(high or low))
    except ValueError:
        raise UsageError(
            f"--client-port {value!r} must be a port or a range like 8000-8100"
        ) from None
    if not 1 <= port.low <= port.high <= 65535:
        raise UsageError(f"--client-port {value!r} must be within 1-65535, low before high")
    return port


def main_rules(sg_id: str, allow: list[str], api_from: Sequence[str] = ()) -> set[Rule]:
    rules: set[Rule] = {(ALL, None, None, sg_id)}
    for cidr in allow:
        rules.add(("tcp", SSH_PORT, SSH_PORT, cidr))
        rules.add(("tcp", NOMAD_HTTP_PORT, NOMAD_HTTP_PORT, cidr))
    for cidr in api_from:  # the load balancer's health checks, from its subnets
        rules.add(("tcp", NOMAD_HTTP_PORT, NOMAD_HTTP_PORT, cidr))
    return rules


def client_rules(allow: list[str], ports: list[PortRange]) -> set[Rule]:
    return {("tcp", p.low, p.high, cidr) for p in ports for cidr in allow}


def _is_main_managed(rule: Rule, sg_id: str) -> bool:
    proto, low, high, source = rule
    if source == sg_id:
        return proto == ALL
    return proto == "tcp" and low == high and low in (SSH_PORT, NOMAD_HTTP_PORT)


def current_rules(group: dict[str, Any]) -> set[Rule]:
    out: set[Rule] = set()
    for perm in group.get("IpPermissions", []):
        proto = str(perm.get("IpProtocol", ALL))
        proto = {"6": "tcp", "17": "udp", "1": "icmp"}.get(proto, proto)
        low = None if proto == ALL else perm.get("FromPort")
        high = None if proto == ALL else perm.get("ToPort")
        for r in perm.get("IpRanges", []):
            out.add((proto, low, high, r["CidrIp"]))
        for r in perm.get("Ipv6Ranges", []):
            out.add((proto, low, high, r["CidrIpv6"]))
        for r in perm.get("UserIdGroupPairs", []):
            out.add((proto, low, high, r["GroupId"]))
    return out


def _describe(rule: Rule) -> str:
    proto, low, _high, source = rule
    if proto == ALL:
        return "all traffic between cluster members"
    port = {SSH_PORT: "SSH", NOMAD_HTTP_PORT: "Nomad HTTP API"}.get(low or 0, "application port")
    return f"nomadctl: {port}" if source else port


def permissions(rules: set[Rule]) -> list[dict[str, Any]]:
    """EC2 IpPermissions for `rules`, one entry per protocol and port range."""
    grouped: dict[tuple[str, int | None, int | None], list[str]] = {}
    for proto, low, high, source in sorted(rules, key=lambda r: (r[0], r[1] or 0, r[3])):
        grouped.setdefault((proto, low, high), []).append(source)
    out: list[dict[str, Any]] = []
    for (proto, low, high), sources in grouped.items():
        perm: dict[str, Any] = {"IpProtocol": proto}
        if proto != ALL:
            perm["FromPort"], perm["ToPort"] = low, high
        desc = _describe((proto, low, high, sources[0]))
        v4 = [s for s in sources if not s.startswith("sg-") and ":" not in s]
        v6 = [s for s in sources if ":" in s]
        groups = [s for s in sources if s.startswith("sg-")]
        if v4:
            perm["IpRanges"] = [{"CidrIp": s, "Description": desc} for s in v4]
        if v6:
            perm["Ipv6Ranges"] = [{"CidrIpv6": s, "Description": desc} for s in v6]
        if groups:
            perm["UserIdGroupPairs"] = [{"GroupId": g, "Description": desc} for g in groups]
        out.append(perm)
    return out


def _summary(rules: set[Rule]) -> str:
    parts = []
    for proto, low, high, source in sorted(rules, key=lambda r: (r[0], r[1] or 0, r[3])):
        if proto == ALL:
            parts.append("all from members")
        else:
            port = str(low) if low == high else f"{low}-{high}"
            parts.append(f"{port}/{proto} from {source}")
    return ", ".join(parts)


def normalise_cidrs(values: list[str]) -> list[str]:
    """--allow-cidr values as canonical CIDRs (a bare address is that one address)."""

    out: list[str] = []
    for value in values:
        cidr = str(parse_network(value, "--allow-cidr"))
        if cidr not in out:
            out.append(cidr)
    return out


# ---- ensure ----------------------------------------------------------------------------------


def ensure_security_groups(
    run: Run,
    vpc_id: str | None,
    allow: list[str],
    client_ports: list[PortRange],
    known: dict[str, Any] | None = None,
    api_from: Sequence[str] = (),
) -> tuple[str | None, str | None]:
    """The main and the clients group, with their rules in the wanted state."""
    known = known or {}
    sg_id = _ensure_group(
        run,
        vpc_id,
        sg_name(run.cluster),
        f"nomadctl cluster {run.cluster}: SSH and Nomad API from allowed CIDRs, members to members",
        lambda gid: main_rules(gid, allow, api_from),
        lambda rule, gid: _is_main_managed(rule, gid),
        ("sg_id", known),
    )
    clients_id = _ensure_group(
        run,
        vpc_id,
        clients_sg_name(run.cluster),
        f"nomadctl cluster {run.cluster}: application ports on clients (--client-port)",
        lambda gid: client_rules(allow, client_ports),
        lambda rule, gid: True,
        ("clients_sg_id", known),
    )
    return sg_id, clients_id


def _ensure_group(
    run: Run,
    vpc_id: str | None,
    name: str,
    description: str,
    wanted_rules: Any,
    managed: Any,
    where: tuple[str, dict[str, Any]],
) -> str | None:
    ec2 = run.aws.ec2
    state_key, known = where
    group = None
    if vpc_id:
        group = _find_group(run, vpc_id, name, known.get(state_key))
    if group is not None and tag_dict(group.get("Tags")).get(TAG_CLUSTER) != run.cluster:
        raise CloudError(
            f"security group {name} ({group['GroupId']}) in {vpc_id} was not made by nomadctl "
            f"for cluster {run.cluster!r}; choose another --cluster name or remove that group"
        )
    if group is None:
        if run.dry_run or vpc_id is None:
            rules = wanted_rules("<this group>")
            run.would_create("security-group", name, _summary(rules) or "no ingress")
            return None
        gid = _create_group(run, vpc_id, name, description)
        run.record({state_key: gid})
        rules = wanted_rules(gid)
        if rules:  # the group made a moment ago may be InvalidGroup.NotFound
            settle(
                ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=permissions(rules)
            )
        run.created("security-group", name, gid, _summary(rules) or "no ingress")
        return gid
    gid = group["GroupId"]
    run.record({state_key: gid})
    wanted = wanted_rules(gid)
    have = current_rules(group)
    add = wanted - have
    remove = {r for r in have - wanted if managed(r, gid)}
    if not add and not remove:
        run.found("security-group", name, gid, _summary(wanted) or "no ingress")
        return gid
    if not run.dry_run:
        if remove:
            settle(
                ec2.revoke_security_group_ingress, GroupId=gid, IpPermissions=permissions(remove)
            )
        if add:
            settle(
                ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=permissions(add)
            )
    changes = []
    if add:
        changes.append("open " + _summary(add))
    if remove:
        changes.append("close " + _summary(remove))
    run.changed("security-group", name, gid, "; ".join(changes))
    return gid


def _find_group(run: Run, vpc_id: str, name: str, recorded_id: str | None) -> dict[str, Any] | None:
    """By VPC and name; else by the ID state.json recorded (a search may miss a new group)."""
    ec2 = run.aws.ec2
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": [name]},
        ]
    )["SecurityGroups"]
    if not groups and recorded_id:
        found = recorded(lambda: ec2.describe_security_groups(GroupIds=[recorded_id]))
        groups = [
            g
            for g in (found or {}).get("SecurityGroups", [])
            if g.get("VpcId") == vpc_id and g.get("GroupName") == name
        ]
    return groups[0] if groups else None


def _create_group(run: Run, vpc_id: str, name: str, description: str) -> str:
    """Create the group; when the name is taken by one made a moment ago that no search lists
    yet (no state.json: an interrupted first run), wait until the search shows it."""
    from botocore.exceptions import ClientError

    ec2 = run.aws.ec2
    try:
        return str(
            settle(  # the VPC made a moment ago may be InvalidVpcID.NotFound
                ec2.create_security_group,
                GroupName=name,
                Description=description,
                VpcId=vpc_id,
                TagSpecifications=[tag_spec("security-group", tags(run.cluster, name))],
            )["GroupId"]
        )
    except ClientError as exc:
        if error_code(exc) != "InvalidGroup.Duplicate":
            raise
    group = poll(
        lambda: _find_group(run, vpc_id, name, None),
        what=f"security group {name} to be listed",
        timeout=60,
        first_delay=0.2,
    )
    if tag_dict(group.get("Tags")).get(TAG_CLUSTER) != run.cluster:
        raise CloudError(
            f"security group {name} ({group['GroupId']}) in {vpc_id} was not made by nomadctl "
            f"for cluster {run.cluster!r}; choose another --cluster name or remove that group"
        )
    return str(group["GroupId"])


# ---- delete ----------------------------------------------------------------------------------


def find_security_groups(aws: Aws, cluster: str) -> list[dict[str, Any]]:
    return list(aws.ec2.describe_security_groups(Filters=cluster_filter(cluster))["SecurityGroups"])


def destroy_security_groups(down: Teardown) -> None:
    ec2 = down.aws.ec2
    groups = find_security_groups(down.aws, down.cluster)
    ids = {g["GroupId"] for g in groups}
    for group in groups:  # rules naming another group of ours would block its deletion
        refs = {r for r in current_rules(group) if r[3] in ids and r[3] != group["GroupId"]}
        if refs and not down.dry_run:
            gone_ok(  # a rule (or group) already gone is that step done
                ec2.revoke_security_group_ingress,
                GroupId=group["GroupId"],
                IpPermissions=permissions(refs),
            )
    for group in groups:
        gid = group["GroupId"]
        down.delete(
            "security-group",
            group.get("GroupName", gid),
            gid,
            lambda gid=gid: ec2.delete_security_group(GroupId=gid),
            drain=True,
        )
