"""The API endpoint that survives a server: a Network Load Balancer in front of port 4646.

HashiCorp's reference architecture puts a load balancer in front of the servers' API. This
one is TCP (no TLS termination: the agents' mTLS passes through, so the `nomad` CLI and
browsers verify the servers' certificates, which carry the balancer's DNS name), cross-zone,
with one listener on 4646 forwarding to a target group of the server instances, health-checked
over TCP (an HTTP check would need the cluster's client certificate). Found by name and
checked by the `nomadctl:cluster` tag like the key pair; created and deleted with the cluster.

elbv2 facts relied on (Elastic Load Balancing API Reference; botocore's elbv2 service model):
CreateLoadBalancer and CreateTargetGroup with the same name and settings return the existing
one (a lost answer cannot make two); a new load balancer is `provisioning` before `active`
(DescribeLoadBalancers; the `load_balancer_available` waiter polls it); a newly registered
target is `initial` until its health checks pass; DeleteLoadBalancer returns at once while
its network interfaces drain, and until then its target group is `ResourceInUse`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from nomadctl.errors import CloudError
from nomadctl.hosts import Host
from nomadctl.providers.aws.common import TAG_CLUSTER, Run, Teardown, tag_dict, tags
from nomadctl.providers.aws.errors import error_code
from nomadctl.providers.aws.session import Aws, poll

API_PORT = 4646
ACTIVE_WAIT = 600.0  # AWS: usually 1-3 minutes from provisioning to active
GONE_WAIT = 300.0
CROSS_ZONE = "load_balancing.cross_zone.enabled"
NOT_FOUND = ("LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound")
HEALTH_CHECK = {
    "HealthCheckProtocol": "TCP",
    "HealthCheckPort": "traffic-port",
    "HealthCheckEnabled": True,
    "HealthCheckIntervalSeconds": 10,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
}


@dataclass(frozen=True)
class Balancer:
    arn: str | None  # None in a dry run, before it exists
    dns_name: str | None
    target_group_arn: str | None

    @property
    def address(self) -> str | None:
        return f"https://{self.dns_name}:{API_PORT}" if self.dns_name else None


def balancer_name(cluster: str) -> str:
    """<= 32 characters, letters, digits and hyphens (CreateLoadBalancer's Name); the target
    group has the same name (its own namespace)."""
    name = f"nomadctl-{cluster}"
    if len(name) <= 32:
        return name
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:8]
    return f"nomadctl-{cluster[:14].rstrip('-')}-{digest}"


def _elb(aws: Aws) -> Any:
    return aws.client("elbv2")


def _missing(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND


def _describe(aws: Aws, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        found = _elb(aws).describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return found[0] if found else None


def _target_group(aws: Aws, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        found = _elb(aws).describe_target_groups(Names=[name])["TargetGroups"]
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return found[0] if found else None


def _tags_of(aws: Aws, arn: str) -> dict[str, str]:
    described = _elb(aws).describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return tag_dict(described[0].get("Tags") if described else [])


def _check_ours(run: Run, kind: str, name: str, arn: str) -> None:
    if _tags_of(run.aws, arn).get(TAG_CLUSTER) != run.cluster:
        raise CloudError(
            f"{kind} {name} in {run.aws.region} was not made by nomadctl for cluster "
            f"{run.cluster!r}; choose another --cluster name or delete that {kind}"
        )


def check_names(run: Run) -> None:
    """Before anything is created: a load balancer or target group of the cluster's name
    that someone else made is refused (nomadctl never adopts or deletes it)."""
    name = balancer_name(run.cluster)
    lb = _describe(run.aws, name)
    if lb is not None:
        _check_ours(run, "load balancer", name, lb["LoadBalancerArn"])
    group = _target_group(run.aws, name)
    if group is not None:
        _check_ours(run, "target group", name, group["TargetGroupArn"])


# ---- ensure ----------------------------------------------------------------------------------


def ensure_balancer(
    run: Run, vpc_id: str | None, subnet_ids: list[str], servers: list[Host], internal: bool = False
) -> Balancer:
    """The load balancer, its target group (the servers) and its listener, as wanted.

    `internal`: the cluster has no public IPs (private subnets, issue 25 point 5), so the load
    balancer gets private addresses only (Scheme internal), reached from inside the VPC."""
    name = balancer_name(run.cluster)
    scheme = "internal" if internal else "internet-facing"
    elb = _elb(run.aws)
    group = _ensure_target_group(run, name, vpc_id)
    lb = _describe(run.aws, name)
    if lb is None:
        if run.dry_run or vpc_id is None or not all(subnet_ids):
            run.would_create(
                "load-balancer", name, f"network, {scheme}, TCP {API_PORT}, cross-zone"
            )
            return Balancer(None, None, group)
        lb = elb.create_load_balancer(
            Name=name,
            Subnets=subnet_ids,
            Scheme=scheme,
            Type="network",
            IpAddressType="ipv4",
            Tags=tags(run.cluster, name),
        )["LoadBalancers"][0]
        run.record({"lb_arn": lb["LoadBalancerArn"], "lb_dns": lb["DNSName"]})
        run.created("load-balancer", name, lb["LoadBalancerArn"], lb["DNSName"])
        created = True
    else:
        _check_ours(run, "load balancer", name, lb["LoadBalancerArn"])
        run.record({"lb_arn": lb["LoadBalancerArn"], "lb_dns": lb["DNSName"]})
        created = False
        if lb.get("Scheme", scheme) != scheme:  # AWS cannot change a load balancer's scheme
            run.progress(
                f"warning: load balancer {name} is {lb['Scheme']}, not {scheme} as the "
                "cluster's public IPs now want; `nomadctl down` then `up` makes it anew"
            )
    arn = lb["LoadBalancerArn"]
    changes = _converge(run, lb, subnet_ids, group)
    if not created:
        if changes:
            run.changed("load-balancer", name, arn, "; ".join(changes))
        else:
            run.found("load-balancer", name, arn, lb["DNSName"])
    if group is not None:
        _ensure_targets(run, name, group, servers)
    if not run.dry_run:
        wait_active(run, arn)
    return Balancer(arn, lb["DNSName"], group)


def _ensure_target_group(run: Run, name: str, vpc_id: str | None) -> str | None:
    group = _target_group(run.aws, name)
    if group is not None:
        _check_ours(run, "target group", name, group["TargetGroupArn"])
        run.record({"tg_arn": group["TargetGroupArn"]})
        run.found("target-group", name, group["TargetGroupArn"], f"TCP {API_PORT}, the servers")
        return str(group["TargetGroupArn"])
    if run.dry_run or vpc_id is None:
        run.would_create("target-group", name, f"TCP {API_PORT}, the servers, TCP health check")
        return None
    group = _elb(run.aws).create_target_group(
        Name=name,
        Protocol="TCP",
        Port=API_PORT,
        VpcId=vpc_id,
        TargetType="instance",
        Tags=tags(run.cluster, name),
        **HEALTH_CHECK,
    )["TargetGroups"][0]
    run.record({"tg_arn": group["TargetGroupArn"]})
    run.created("target-group", name, group["TargetGroupArn"], f"TCP {API_PORT}, the servers")
    return str(group["TargetGroupArn"])


def _converge(run: Run, lb: dict[str, Any], subnet_ids: list[str], group: str | None) -> list[str]:
    """Cross-zone on, a subnet in every zone of the cluster, the listener: what changed."""
    elb = _elb(run.aws)
    arn = lb["LoadBalancerArn"]
    changes = []
    attributes = elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    if {a["Key"]: a["Value"] for a in attributes}.get(CROSS_ZONE) != "true":
        changes.append("cross-zone on")
        if not run.dry_run:
            elb.modify_load_balancer_attributes(
                LoadBalancerArn=arn, Attributes=[{"Key": CROSS_ZONE, "Value": "true"}]
            )
    have = {z.get("SubnetId") for z in lb.get("AvailabilityZones", [])}
    wanted = [s for s in subnet_ids if s]
    if not set(wanted) <= have:
        changes.append("subnets " + ", ".join(sorted(set(wanted) - have)))
        if not run.dry_run:
            elb.set_subnets(LoadBalancerArn=arn, Subnets=sorted(have | set(wanted)))
    listeners = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    if group is not None and not any(x.get("Port") == API_PORT for x in listeners):
        changes.append(f"listener TCP {API_PORT}")
        if not run.dry_run:
            elb.create_listener(
                LoadBalancerArn=arn,
                Protocol="TCP",
                Port=API_PORT,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
                Tags=tags(run.cluster),
            )
    return changes


def _ensure_targets(run: Run, name: str, group: str, servers: list[Host]) -> None:
    """The target group holds exactly the servers' instances (a replaced or removed server's
    old instance is deregistered)."""
    elb = _elb(run.aws)
    health = elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    have = {t["Target"]["Id"] for t in health}
    want = {h.instance_id for h in servers if h.instance_id}
    add, drop = sorted(want - have), sorted(have - want)
    if not add and not drop:
        return
    if not run.dry_run:
        if add:
            elb.register_targets(TargetGroupArn=group, Targets=[{"Id": i} for i in add])
        if drop:
            elb.deregister_targets(TargetGroupArn=group, Targets=[{"Id": i} for i in drop])
    words = [f"register {', '.join(add)}"] if add else []
    words += [f"deregister {', '.join(drop)}"] if drop else []
    run.changed("target-group", name, group, "; ".join(words))


def wait_active(run: Run, arn: str) -> None:
    """A new load balancer is `provisioning` for a minute or more; `failed` is final."""

    def check() -> bool | None:
        lb = _elb(run.aws).describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        state = lb.get("State") or {}
        if state.get("Code") == "active":
            return True
        if state.get("Code") == "failed":
            raise CloudError(
                f"load balancer {arn} failed to provision: {state.get('Reason', 'no reason')}"
            )
        return None

    poll(check, what="the load balancer to be active", timeout=ACTIVE_WAIT, progress=run.progress)


# ---- delete ----------------------------------------------------------------------------------


def find_balancers(aws: Aws, cluster: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The cluster's load balancers and target groups, by tag (any name)."""
    elb = _elb(aws)
    lbs = [
        lb
        for page in elb.get_paginator("describe_load_balancers").paginate()
        for lb in page["LoadBalancers"]
    ]
    groups = [
        g
        for page in elb.get_paginator("describe_target_groups").paginate()
        for g in page["TargetGroups"]
    ]
    ours: set[str] = set()
    arns = [lb["LoadBalancerArn"] for lb in lbs] + [g["TargetGroupArn"] for g in groups]
    for start in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
        described = elb.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]
        for d in described:
            if tag_dict(d.get("Tags")).get(TAG_CLUSTER) == cluster:
                ours.add(d["ResourceArn"])
    return (
        [lb for lb in lbs if lb["LoadBalancerArn"] in ours],
        [g for g in groups if g["TargetGroupArn"] in ours],
    )


def destroy_balancers(down: Teardown) -> None:
    """Load balancers (waited for until gone), then their target groups."""
    elb = _elb(down.aws)
    lbs, groups = find_balancers(down.aws, down.cluster)
    for lb in lbs:
        arn = lb["LoadBalancerArn"]
        deleted = down.delete(
            "load-balancer",
            lb["LoadBalancerName"],
            arn,
            lambda arn=arn: _gone_ok(elb.delete_load_balancer, LoadBalancerArn=arn),
        )
        if deleted and not down.dry_run:
            poll(
                lambda arn=arn: True if _gone(down.aws, arn) else None,
                what=f"load balancer {lb['LoadBalancerName']} to be deleted",
                timeout=GONE_WAIT,
                progress=down.progress,
            )
    for group in groups:
        arn = group["TargetGroupArn"]
        down.delete(
            "target-group",
            group["TargetGroupName"],
            arn,
            lambda arn=arn: _gone_ok(elb.delete_target_group, TargetGroupArn=arn),
            drain=True,  # ResourceInUse while the load balancer's deletion completes
        )


def _gone_ok(call: Any, **kwargs: Any) -> None:
    from botocore.exceptions import ClientError

    try:
        call(**kwargs)
    except ClientError as exc:
        if not _missing(exc):
            raise


def _gone(aws: Aws, arn: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        return not _elb(aws).describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
    except ClientError as exc:
        if _missing(exc):
            return True
        raise
