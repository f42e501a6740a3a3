"""The cluster's EC2 instances: find, converge, wait, terminate.

One instance per name, named and tagged at launch (instance and root volume); each launch is
one RunInstances call made safe to repeat by its ClientToken (launch.py). Before
launching, `up` looks for each name by tag; duplicates (a provider that ignored the token)
are terminated, the one `up` recorded (or else the oldest) is kept. Instances get IMDSv2
only, an encrypted gp3 root volume, and no user-data at all. When a launch fails midway, the
error names what already runs (and bills) and says how to finish or delete it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nomadctl.errors import CloudError
from nomadctl.hosts import Host, Role
from nomadctl.providers.aws.common import (
    LIVE_INSTANCE_STATES,
    TAG_AUTO_JOIN,
    TAG_ROLE,
    Resource,
    Run,
    Teardown,
    cluster_filter,
    find_instances,
    instance_name,
    settle,
    tag_dict,
)
from nomadctl.providers.aws.errors import (
    error_code,
    from_botocore_error,
    from_client_error,
    translated,
)
from nomadctl.providers.aws.launch import LaunchSpec, Placement, instance_tags, launch, name_of
from nomadctl.providers.aws.profiles import client_profile
from nomadctl.providers.aws.resize import TypeChange, check_offered
from nomadctl.providers.aws.session import poll

RUNNING_WAIT = 600.0
TERMINATED_WAIT = 600.0


# ---- finding ---------------------------------------------------------------------------------


def _launch_key(instance: dict[str, Any]) -> tuple[str, str]:
    return (str(instance.get("LaunchTime", "")), instance["InstanceId"])


# ---- ensure ----------------------------------------------------------------------------------


def ensure_instances(
    run: Run,
    specs: list[LaunchSpec],
    where: Placement,
    known: dict[str, Any],
) -> list[Host]:
    """Servers then clients, one instance per name, all running; their Host records."""
    from botocore.exceptions import ClientError

    instances: dict[str, Any] = dict(known.get("instances") or {})
    generations: dict[str, int] = dict(known.get("generations") or {})
    chosen = _one_pername_of(run, instances)
    billing = {name: inst["InstanceId"] for name, inst in chosen.items()}
    try:
        return _ensure(run, specs, where, instances, generations, chosen, billing)
    except (CloudError, ClientError) as exc:
        raise _midway(run, exc, billing) from None


def _midway(run: Run, exc: Exception, billing: dict[str, str]) -> CloudError:
    """The error, and what already runs (and bills) because of this cluster."""

    message = (
        exc.message if isinstance(exc, CloudError) else from_client_error(exc, run.aws).message
    )
    billing = _still_live(run, billing)
    if not billing:
        return CloudError(message)
    running = ", ".join(f"{name} ({iid})" for name, iid in sorted(billing.items()))
    return CloudError(
        f"{message.rstrip('.')}; running and billing now: {running}; re-run `nomadctl up` to "
        "finish the cluster, or `nomadctl down` to delete it"
    )


def _still_live(run: Run, billing: dict[str, str]) -> dict[str, str]:
    """The instances of `billing` not terminated (all of them when AWS cannot say)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not billing:
        return billing
    try:
        found = run.aws.ec2.describe_instances(InstanceIds=sorted(billing.values()))
    except (ClientError, BotoCoreError):
        return billing
    live = {
        i["InstanceId"]
        for r in found["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] in LIVE_INSTANCE_STATES
    }
    return {name: iid for name, iid in billing.items() if iid in live}


def _ensure(
    run: Run,
    specs: list[LaunchSpec],
    where: Placement,
    instances: dict[str, Any],
    generations: dict[str, int],
    chosen: dict[str, dict[str, Any]],
    billing: dict[str, str],
) -> list[Host]:
    wanted_names: list[str] = []
    launched: list[str] = []
    check_offered(run.aws, type_changes(run, specs, chosen))  # before anything changes
    for spec in specs:
        for index in range(1, spec.count + 1):
            name = instance_name(run.cluster, spec.role, index)
            wanted_names.append(name)
            inst = chosen.get(name)
            if inst is not None:
                _converge_existing(run, inst, spec, where, instances)
                continue
            detail = f"{spec.instance_type}, {spec.image.id if spec.image else 'AMI ?'}"
            if run.dry_run or where.subnet_id is None or where.sg_id is None:
                run.would_create("instance", name, detail)
                continue
            inst = launch(run, spec, name, where, instances, generations)
            instances[name] = {"id": inst["InstanceId"], "role": spec.role}
            billing[name] = inst["InstanceId"]
            run.record({"instances": instances})
            run.created("instance", name, inst["InstanceId"], detail)
            launched.append(inst["InstanceId"])
    for name, inst in chosen.items():
        if name not in wanted_names:
            run.found("instance", name, inst["InstanceId"], "beyond the asked count; kept")
    if run.dry_run:  # what runs now, as the plan shows it (a stopped one has no address)
        return sorted(
            (_host_of(i) for n, i in chosen.items() if n in wanted_names), key=_host_order
        )

    if launched:  # a launch on a provider that ignored the token may have made two
        chosen = _one_pername_of(run, instances)
    # Just-launched instances may not be visible to describe calls yet: wait for them by ID.
    ids = sorted({i["InstanceId"] for i in chosen.values()} | set(launched))
    if not ids:
        return []
    want_public = where.public_ip and _subnet_maps_public(run, where.subnet_id, where)
    running = wait_running(run, ids, want_public=want_public)
    hosts: list[Host] = []
    for inst in running:
        host = _host_of(inst)
        hosts.append(host)
        instances[host.name] = {
            "id": inst["InstanceId"],
            "role": host.role,
            "type": inst.get("InstanceType"),
            "private_ip": inst["PrivateIpAddress"],
            "public_ip": inst.get("PublicIpAddress"),
        }
    run.record({"instances": instances})
    return sorted(hosts, key=_host_order)


def type_changes(
    run: Run, specs: list[LaunchSpec], chosen: dict[str, dict[str, Any]]
) -> list[TypeChange]:
    """The live instances asked to change their type (stop, modify, start: resize.py)."""
    out = []
    for spec in specs:
        for index in range(1, spec.count + 1):
            inst = chosen.get(instance_name(run.cluster, spec.role, index))
            if inst is None or inst.get("InstanceType") == spec.instance_type:
                continue
            zone = (inst.get("Placement") or {}).get("AvailabilityZone", "")
            out.append(
                TypeChange(
                    name_of(inst),
                    inst["InstanceId"],
                    zone,
                    str(inst.get("InstanceType")),
                    spec.instance_type,
                )
            )
    return out


def _host_of(inst: dict[str, Any]) -> Host:
    itags = tag_dict(inst.get("Tags"))
    role: Role = "server" if itags.get(TAG_ROLE) == "server" else "client"
    return Host(
        name=itags.get("Name", inst["InstanceId"]),
        role=role,
        private_ip=inst.get("PrivateIpAddress") or "",
        public_ip=inst.get("PublicIpAddress"),
        instance_id=inst["InstanceId"],
        zone=(inst.get("Placement") or {}).get("AvailabilityZone"),
    )


def _one_pername_of(run: Run, recorded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The cluster's live instances by name; extra ones with the same name are terminated.

    The one recorded in state wins, else the oldest. Duplicates can only appear when a launch
    went through but its answer was lost and the provider ignored the ClientToken.
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for inst in find_instances(run.aws, run.cluster):
        by_name.setdefault(name_of(inst), []).append(inst)
    chosen: dict[str, dict[str, Any]] = {}
    for name, group in by_name.items():
        keep = (recorded.get(name) or {}).get("id")
        group.sort(key=lambda i: (i["InstanceId"] != keep, _launch_key(i)))
        chosen[name] = group[0]
        extra = [i["InstanceId"] for i in group[1:]]
        if extra:
            if not run.dry_run:
                run.aws.ec2.terminate_instances(InstanceIds=extra)
            run.changed("instance", name, group[0]["InstanceId"], f"terminated duplicate {extra}")
    return chosen


def _host_order(host: Host) -> tuple[int, int, str]:
    tail = host.name.rsplit("-", 1)[-1]
    return (0 if host.role == "server" else 1, int(tail) if tail.isdigit() else 0, host.name)


def _subnet_maps_public(run: Run, subnet_id: str | None, where: Placement) -> bool:
    if not subnet_id:
        return False
    if not where.public_ip_on_launch:  # asked for on each interface
        return True
    subnet = settle(run.aws.ec2.describe_subnets, SubnetIds=[subnet_id])["Subnets"][0]
    return bool(subnet.get("MapPublicIpOnLaunch"))


def _converge_existing(
    run: Run, inst: dict[str, Any], spec: LaunchSpec, where: Placement, known: dict[str, Any]
) -> None:
    ec2 = run.aws.ec2
    name = name_of(inst)
    iid = inst["InstanceId"]
    known.setdefault(name, {"id": iid, "role": spec.role})
    changes: list[str] = []
    have = tag_dict(inst.get("Tags"))
    want = tag_dict(instance_tags(run, spec, name, where))
    missing = [{"Key": k, "Value": v} for k, v in want.items() if have.get(k) != v]
    stale = [{"Key": TAG_AUTO_JOIN}] if TAG_AUTO_JOIN in have and TAG_AUTO_JOIN not in want else []
    if missing:
        changes.append("tags " + ", ".join(t["Key"] for t in missing))
        if not run.dry_run:
            ec2.create_tags(Resources=[iid], Tags=missing)
    if stale:
        changes.append(f"remove tag {TAG_AUTO_JOIN}")
        if not run.dry_run:
            ec2.delete_tags(Resources=[iid], Tags=stale)
    if spec.role == "client":
        change = client_profile(run, iid, inst, where.client_profile_name)
        if change:
            changes.append(change)
    state = inst["State"]["Name"]
    if state in ("stopped", "stopping"):
        changes.append("start")
        if not run.dry_run:
            if state == "stopping":
                poll(
                    lambda: (
                        True
                        if ec2.describe_instances(InstanceIds=[iid])["Reservations"][0][
                            "Instances"
                        ][0]["State"]["Name"]
                        == "stopped"
                        else None
                    ),
                    what=f"{name} to stop before starting it",
                    timeout=RUNNING_WAIT,
                    progress=run.progress,
                )
            ec2.start_instances(InstanceIds=[iid])
    if inst.get("InstanceType") != spec.instance_type:  # changed later, one at a time
        run.resources.append(
            Resource(
                "instance",
                name,
                iid,
                "replace",
                f"{inst.get('InstanceType')} -> {spec.instance_type}, once the cluster is up: "
                "stop, change type, start (same instance, volume and private address)",
            )
        )
        return
    drift = _drift(inst, spec)
    if drift:
        run.progress(f"warning: {name} {drift}")
    if changes:
        run.changed("instance", name, iid, "; ".join(changes))
    else:
        detail = f"{inst.get('InstanceType')}, {state}"
        run.found("instance", name, iid, f"{detail}; {drift}" if drift else detail)


def _drift(inst: dict[str, Any], spec: LaunchSpec) -> str:
    """How a running node differs from what was asked, other than its type (a changed type
    is changed one node at a time by `up`'s replace step, on the same instance): a newer AMI
    alone never replaces a live node."""
    differ = []
    if spec.image is not None and inst.get("ImageId") != spec.image.id:
        differ.append(f"runs {inst.get('ImageId')}, asked {spec.image.id}")
    if not differ:
        return ""
    return "kept as it is (" + "; ".join(differ) + "): a new image alone replaces no live node"


def wait_running(run: Run, ids: list[str], want_public: bool) -> list[dict[str, Any]]:
    ec2 = run.aws.ec2
    started = time.monotonic()

    def check() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = []
        for page in ec2.get_paginator("describe_instances").paginate(InstanceIds=ids):
            for reservation in page["Reservations"]:
                found.extend(reservation["Instances"])
        ready = 0
        for inst in found:
            state = inst["State"]["Name"]
            if state in ("shutting-down", "terminated"):
                reason = inst.get("StateReason", {}).get("Message", "no reason given")
                raise CloudError(
                    f"instance {name_of(inst)} ({inst['InstanceId']}) went to {state}: {reason}; "
                    "re-run `nomadctl up` to replace it"
                )
            if (
                state == "running"
                and inst.get("PrivateIpAddress")
                and (inst.get("PublicIpAddress") or not want_public)
            ):
                ready += 1
        what = "running with a public IP" if want_public else "running"
        run.progress(
            f"waiting for instances to be {what}: {ready}/{len(ids)} "
            f"({time.monotonic() - started:.0f}s so far, at most {RUNNING_WAIT:.0f}s)"
        )
        return found if ready == len(ids) and len(found) == len(ids) else None

    from botocore.exceptions import ClientError

    def tolerant() -> list[dict[str, Any]] | None:
        try:
            return check()
        except ClientError as exc:  # a just-launched ID may not be visible yet
            if error_code(exc) == "InvalidInstanceID.NotFound":
                return None
            raise

    return poll(
        tolerant, what=f"{len(ids)} instances to run", timeout=RUNNING_WAIT, first_delay=0.2
    )


# ---- delete ----------------------------------------------------------------------------------


def terminate(aws: Any, ids: list[str], progress: Callable[[str], None]) -> None:
    """Terminate some of the cluster's instances (scale-in) and wait until they are gone."""

    with translated(aws):
        progress(f"terminating {', '.join(ids)}")
        aws.ec2.terminate_instances(InstanceIds=ids)

        def gone() -> bool | None:
            reply = aws.ec2.describe_instances(InstanceIds=ids)
            states = [
                i["State"]["Name"] for r in reply.get("Reservations", []) for i in r["Instances"]
            ]
            if any(s != "terminated" for s in states):
                progress(f"waiting for {len(ids)} instance(s) to terminate")
                return None
            return True

        poll(gone, what="instances to terminate", timeout=TERMINATED_WAIT)


def destroy_instances(down: Teardown) -> None:
    """Terminate every instance of the cluster and wait until they are gone."""
    ec2 = down.aws.ec2
    states = [*LIVE_INSTANCE_STATES, "shutting-down"]
    instances = find_instances(down.aws, down.cluster, states)
    if not instances:
        return
    ids = [i["InstanceId"] for i in instances]
    if down.dry_run:
        for inst in instances:
            down.resources.append(_resource(inst, "delete"))
        return
    down.progress(f"terminating {len(ids)} instances")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ec2.terminate_instances(InstanceIds=ids)
        started = time.monotonic()

        def gone() -> bool | None:
            left = find_instances(down.aws, down.cluster, states)
            if left:
                down.progress(
                    f"waiting for instances to terminate: {len(ids) - len(left)}/{len(ids)} "
                    f"gone ({time.monotonic() - started:.0f}s so far, at most "
                    f"{TERMINATED_WAIT:.0f}s)"
                )
                return None
            return True

        poll(gone, what="instances to terminate", timeout=TERMINATED_WAIT)
    except (ClientError, BotoCoreError, CloudError) as exc:
        if isinstance(exc, ClientError):
            reason = from_client_error(exc, down.aws).message
        elif isinstance(exc, BotoCoreError):
            reason = from_botocore_error(exc, down.aws).message
        else:
            reason = exc.message
        for inst in instances:
            down.resources.append(_resource(inst, "failed", reason))
        return
    for inst in instances:
        down.resources.append(_resource(inst, "deleted"))


def _resource(inst: dict[str, Any], status: str, detail: str = ""):  # type: ignore[no-untyped-def]

    return Resource("instance", name_of(inst), inst["InstanceId"], status, detail)


def destroy_volumes(down: Teardown) -> None:
    """Volumes tagged for the cluster that outlived their instance."""
    ec2 = down.aws.ec2
    volumes = ec2.describe_volumes(
        Filters=[*cluster_filter(down.cluster), {"Name": "status", "Values": ["available"]}]
    )["Volumes"]
    for vol in volumes:
        vid = vol["VolumeId"]
        name = tag_dict(vol.get("Tags")).get("Name", vid)
        down.delete(
            "volume", name, vid, lambda vid=vid: ec2.delete_volume(VolumeId=vid), drain=True
        )
