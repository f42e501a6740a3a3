"""`nomadctl down` and `nomadctl list`: remove a cluster, and find clusters by tag."""

import sys
from typing import Annotated

import typer

from nomadctl.cli import AppContext, app
from nomadctl.cli_options import (
    RESOURCE_COLUMNS,
    AwsProfile,
    AwsRegion,
    JsonOutput,
    Yes,
    _confirm,
    _resource_rows,
)
from nomadctl.errors import UsageError
from nomadctl.helpformat import SectionedCommand
from nomadctl.ui import Ui
from nomadctl.workspace import Workspace


@app.command(cls=SectionedCommand)
def down(
    ctx: typer.Context,
    region: AwsRegion = None,
    profile: AwsProfile = None,
    yes: Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Hosts you already have: skip hosts that do not answer within --ssh-wait "
            "and forget them (a machine gone for good); clean the others.",
        ),
    ] = False,
    ssh_wait: Annotated[
        float,
        typer.Option(min=1, help="Hosts you already have: seconds each host gets to answer SSH."),
    ] = 10.0,
    json_output: JsonOutput = False,
) -> None:
    """Delete everything the cluster created; nothing is left running or billing.

    On AWS every resource is found by its tag (no workspace needed, and a damaged state.json
    is no obstacle): instances first, then the instance profile and role, security groups, key
    pair, route table, internet gateway, subnet and VPC; a VPC or subnet you passed to `up` is
    left alone. On hosts you already have, the agents are stopped and what nomadctl wrote is
    removed; the machines stay. The cluster's ACL tokens go with its agents; the CA stays.
    Safe to run twice.
    """
    from contextlib import nullcontext

    from nomadctl.providers import aws

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    ws = app_ctx.workspace()
    from nomadctl.plan import state as cluster_state

    current = cluster_state.read(ws)
    damaged = current.damaged
    if damaged is not None:
        ui.info(
            f"note: the cluster's state is unreadable ({damaged}); finding its AWS resources by tag"
        )
    if current.provider == "local":
        from nomadctl.cli_run import run_down
        from nomadctl.providers.local import LocalProvider

        run_down(app_ctx, LocalProvider(), yes=yes, dry_run=dry_run, json_output=json_output)
        return
    if current.provider == "static":
        _down_static(
            app_ctx, yes=yes, dry_run=dry_run, json_output=json_output, force=force, wait=ssh_wait
        )
        return
    state = current.raw
    region = aws.resolve_region(region, profile, state)
    cluster = ws.cluster
    if dry_run or not yes:
        if not dry_run and not sys.stdin.isatty():
            raise UsageError(
                f"`down` deletes cluster {cluster!r}'s AWS resources in {region}: "
                "pass --yes to confirm (stdin is not a terminal)"
            )
        with ui.progress("Looking for the cluster's resources") as report:
            planned = aws.destroy(cluster, region, report, profile=profile, dry_run=True)
        if dry_run and json_output:
            ui.json(
                {"cluster": cluster, "region": region, "resources": [r.to_dict() for r in planned]}
            )
            return
        target = ui if dry_run else Ui(out=ui.err, err=ui.err)
        if not planned:
            target.out.print(f"Nothing to delete: no resources tagged for {cluster!r} in {region}.")
            return
        target.table(
            f"Resources of cluster {cluster!r} in {region} to delete",
            RESOURCE_COLUMNS,
            _resource_rows(planned, cluster),
        )
        if dry_run:
            return
        _confirm(ui, f"Delete these {len(planned)} resources of cluster {cluster!r}?")
    with ws.locked() if ws.exists() else nullcontext():
        with ui.progress(f"Deleting cluster {cluster!r} in {region}") as report:
            resources = aws.destroy(cluster, region, report, profile=profile)
        failed = [r for r in resources if r.status == "failed"]
        _forget_destroyed(ui, ws, region, resources, damaged)
    if json_output:
        ui.json(
            {"cluster": cluster, "region": region, "resources": [r.to_dict() for r in resources]}
        )
    elif resources:
        ui.table(
            f"Deleted resources of cluster {cluster!r} in {region}",
            RESOURCE_COLUMNS,
            _resource_rows(resources, cluster),
        )
    else:
        ui.out.print(f"Nothing to delete: no resources tagged for {cluster!r} in {region}.")
    if failed:
        from nomadctl.errors import CloudError

        first = failed[0]
        raise CloudError(
            f"could not delete {len(failed)} resource(s), e.g. {first.kind} {first.id}: "
            f"{first.detail}; fix that and re-run `nomadctl down`"
        )


def _forget_destroyed(ui: Ui, ws: Workspace, region: str, resources: list, damaged) -> None:  # type: ignore[no-untyped-def,type-arg]
    """After `down` on AWS: the workspace forgets what it no longer has (plan/state.py)."""
    from nomadctl.plan import state as cluster_state

    if not ws.state_path.exists() or any(r.status == "failed" for r in resources):
        return
    destroyed = any(r.kind == "instance" for r in resources)
    if damaged is None:
        cluster_state.forget_aws_cluster(ws, region, destroyed)
    elif destroyed:  # it was this AWS cluster's state: keep it for a look, out of the way
        ui.info(f"note: the unreadable state was moved to {cluster_state.set_aside_damaged(ws)}")


def _down_static(
    app_ctx: AppContext, *, yes: bool, dry_run: bool, json_output: bool, force: bool, wait: float
) -> None:
    """`down` for hosts the user keeps: stop the agents, remove what nomadctl wrote."""
    from nomadctl import lifecycle
    from nomadctl.errors import RemoteError

    ui, ws = app_ctx.ui, app_ctx.workspace()
    from nomadctl.plan import state as cluster_state

    hosts = cluster_state.read(ws).hosts
    names = ", ".join(h.name for h in hosts)
    if not hosts:
        if json_output:
            ui.json({"cluster": ws.cluster, "hosts": [], "skipped": [], "errors": []})
        else:
            ui.out.print(f"Nothing to remove: cluster {ws.cluster!r} has no hosts recorded.")
        return
    if dry_run:
        ui.out.print(f"Would stop Nomad and remove its files from: {names}")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"`down` removes Nomad from {names}: pass --yes to confirm")
        _confirm(ui, f"Stop Nomad and remove its files from {names}?")
    with ws.locked(), ui.progress(f"Removing Nomad from {len(hosts)} host(s)") as report:
        done = lifecycle.teardown_hosts(ws, report, wait=wait)
        skipped = done.unreachable if force else []
        gone = {h.name for h in done.cleaned} | {h.name for h, _ in skipped}
        lifecycle.forget_pins(ws, [h for h, _ in skipped])  # gone for good: its IP is free
        cluster_state.drop_hosts(ws, gone)
    errors = done.errors(force)
    if json_output:
        ui.json(
            {
                "cluster": ws.cluster,
                "hosts": [h.to_dict() for h in hosts],
                "removed": [h.name for h in done.cleaned],
                "skipped": [{"name": h.name, "reason": why} for h, why in skipped],
                "errors": errors,
            }
        )
    if skipped and not json_output:
        ui.info(
            f"skipped {len(skipped)} host(s) that did not answer within {wait:.0f}s and "
            f"removed them from cluster {ws.cluster!r}: "
            + ", ".join(f"{h.name} ({h.private_ip})" for h, _ in skipped)
            + "; if one comes back, nomadctl's files are still on it"
        )
    if errors:
        hint = (
            ", or `nomadctl down --force` to skip hosts that are gone for good"
            if done.unreachable and not force
            else ""
        )
        raise RemoteError(
            "could not clean " + "; ".join(errors) + f"; re-run `nomadctl down`{hint}"
        )
    if not json_output:
        ui.out.print(
            f"Nomad stopped and removed from {len(done.cleaned)} host(s); the machines are yours."
        )


@app.command("list", cls=SectionedCommand)
def list_(
    ctx: typer.Context,
    region: AwsRegion = None,
    profile: AwsProfile = None,
    json_output: JsonOutput = False,
) -> None:
    """List the clusters found by tag in a region, with their instance counts and states."""
    from nomadctl.errors import WorkspaceError
    from nomadctl.providers import aws

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    ws = app_ctx.workspace()
    state, _ = ws.read_state() if ws.state_path.exists() else ({}, None)
    from contextlib import suppress

    with suppress(WorkspaceError):  # a damaged state only loses its region hint
        region = region or aws.recorded_region(state)
    region = aws.resolve_region(region, profile)
    with ui.progress(f"Looking for clusters in {region}"):
        clusters = aws.list_clusters(region, profile)
    if json_output:
        ui.json([c.to_dict() for c in clusters])
        return

    def counts(states: dict[str, int]) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "0"

    ui.table(
        None,
        ["Cluster", "Region", "Servers", "Clients", "VPC", "Resources", "Workspace"],
        (
            (
                c.cluster,
                c.region,
                counts(c.servers),
                counts(c.clients),
                c.vpc_id or "",
                c.resources,
                "yes" if (app_ctx.home / c.cluster).is_dir() else "",
            )
            for c in clusters
        ),
    )
    if not clusters:
        ui.info(f"no nomadctl clusters in {region}")
