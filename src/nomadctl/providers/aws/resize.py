"""A changed instance type, made on the same instance: stop, modify, start.

EC2 changes an EBS-backed instance's type only while it is stopped ("Change the instance
type", EC2 User Guide: stop the instance, `ModifyInstanceAttribute` with `InstanceType`, start
it). The instance keeps its ID, its root volume (Nomad's data dir, a server's raft log) and its
private address; only a public IPv4 not held by an Elastic IP changes. So no node is lost to
a launch that fails: the worst a refused start leaves is a stopped instance, which the next
`up` starts again (its type is whichever was last set; the plan shows it).

Before anything changes, the plan asks which zones offer each new type
(`DescribeInstanceTypeOfferings`, LocationType availability-zone) and refuses a type that a
node's zone does not offer, naming the zones that do: an instance cannot move zones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nomadctl.errors import CloudError, RemoteError
from nomadctl.node.connect import session_for
from nomadctl.providers.aws.errors import error_code, error_message
from nomadctl.providers.aws.first_contact import pin_from_console
from nomadctl.providers.aws.session import Aws, poll
from nomadctl.providers.aws.subnets import offerings

STOP_WAIT = 600.0
START_WAIT = 600.0


@dataclass(frozen=True)
class TypeChange:
    name: str
    instance_id: str
    zone: str
    old: str
    new: str


def zones_offering(aws: Aws, instance_types: list[str]) -> dict[str, set[str]]:
    """Instance type -> the zones of the region that offer it (subnets.offerings, inverted)."""
    out: dict[str, set[str]] = {t: set() for t in instance_types}
    if not instance_types:
        return out
    for zone, types in offerings(aws, instance_types).items():
        for instance_type in types:
            out.setdefault(instance_type, set()).add(zone)
    return out


def check_offered(aws: Aws, changes: list[TypeChange]) -> None:
    """CloudError, before anything changes, when a node's zone does not offer its new type."""
    if not changes:
        return
    offered = zones_offering(aws, sorted({c.new for c in changes}))
    refused = [c for c in changes if c.zone not in offered.get(c.new, set())]
    if not refused:
        return
    first = refused[0]
    names = ", ".join(c.name for c in refused if c.new == first.new and c.zone == first.zone)
    where = sorted(offered.get(first.new, set()))
    offers = (
        f"zones of {aws.region} that offer it: {', '.join(where)}"
        if where
        else f"no zone of {aws.region} offers it"
    )
    raise CloudError(
        f"instance type {first.new} is not offered in {first.zone}, the zone of {names} "
        f"({offers}); an instance cannot change zones: keep {first.old} or choose a type "
        f"{first.zone} offers. Nothing was changed"
    )


def _describe(aws: Aws, instance_id: str) -> dict[str, Any]:
    found = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [i for r in found for i in r["Instances"]]
    if not instances:
        raise CloudError(f"instance {instance_id} not found in {aws.region}")
    return instances[0]


def _wait_state(
    aws: Aws, instance_id: str, name: str, want: str, timeout: float, progress: Callable
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        inst = _describe(aws, instance_id)
        state = inst["State"]["Name"]
        if state in ("shutting-down", "terminated"):
            raise CloudError(f"instance {name} ({instance_id}) went to {state}")
        if state != want or (want == "running" and not inst.get("PrivateIpAddress")):
            return None
        return inst

    return poll(check, what=f"{name} to be {want}", timeout=timeout, progress=progress)


def change_type(
    aws: Aws,
    name: str,
    instance_id: str,
    instance_type: str,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Stop the instance, set its type, start it; the running instance. Idempotent: an
    instance already of that type and running is left alone, a stopped one is started."""
    ec2 = aws.ec2
    inst = _describe(aws, instance_id)
    state = inst["State"]["Name"]
    if inst.get("InstanceType") == instance_type and state == "running":
        return inst
    if state in ("pending", "running"):
        progress(f"{name}: stopping {instance_id} to change its type")
        ec2.stop_instances(InstanceIds=[instance_id])
    if state != "stopped":
        _wait_state(aws, instance_id, name, "stopped", STOP_WAIT, progress)
    from botocore.exceptions import ClientError

    old = str(inst.get("InstanceType"))
    if old != instance_type:
        progress(f"{name}: {old} -> {instance_type}")
        _set_type(aws, instance_id, instance_type)
    progress(f"{name}: starting {instance_id}")
    try:
        ec2.start_instances(InstanceIds=[instance_id])
    except ClientError as exc:  # no capacity for the new type (here, now): the old one back
        if old == instance_type:
            raise
        _back_to(aws, name, instance_id, old, instance_type, exc, progress)
    return _wait_state(aws, instance_id, name, "running", START_WAIT, progress)


def _set_type(aws: Aws, instance_id: str, instance_type: str) -> None:
    aws.ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})


def _back_to(
    aws: Aws,
    name: str,
    instance_id: str,
    old: str,
    new: str,
    exc: Exception,
    progress: Callable[[str], None],
) -> None:
    """AWS would not start the instance as `new`: start it as `old` again, then say so."""
    from botocore.exceptions import ClientError

    why = f"{error_code(exc)}: {error_message(exc)}"
    progress(f"{name}: AWS would not start it as {new} ({why}); starting it as {old} again")
    try:
        _set_type(aws, instance_id, old)
        aws.ec2.start_instances(InstanceIds=[instance_id])
    except ClientError as again:
        raise CloudError(
            f"AWS would not start {name} ({instance_id}) as {new} ({why}), nor as {old} "
            f"({error_code(again)}); it is stopped with its data: re-run `nomadctl up` to "
            "start it"
        ) from None
    _wait_state(aws, instance_id, name, "running", START_WAIT, progress)
    raise CloudError(
        f"AWS would not start {name} as {new} ({why}); it runs as {old} again, with its data: "
        "try another instance type, or re-run later"
    )


def stop_agent(ws: Any, aws: Any, host: Any, ssh: Any, progress: Callable[[str], None]) -> None:
    """Stop the node's agent over SSH before its instance stops, as the instance's own
    shutdown would (SIGTERM: a server with leave_on_terminate leaves raft first); its files
    and data dir stay. An agent already stopped is fine; an unreachable node is an error.
    An instance never contacted has its key pinned from its console first (first_contact)."""
    pin_from_console(ws, [host], ssh, aws.ec2, progress, ssh.wait)
    with session_for(ws, host, ssh) as session:
        session.connect(wait=ssh.connect_timeout, progress=lambda m: progress(f"{host.name}: {m}"))
        done = session.sudo("systemctl stop nomad")
    if done.code != 0:
        raise RemoteError(f"{host.name}: stopping the agent failed: {done.tail()}")
    progress(f"{host.name}: agent stopped")
