"""`nomadctl down` and `nomadctl list`: remove a cluster, and find clusters by tag."""

from typing import Annotated

import typer

from nomadctl.cli.context import AppContext, announce
from nomadctl.cli.options import (
    AwsProfile,
    AwsRegion,
    JsonOutput,
    KeepSnapshots,
    NoSnapshot,
    SnapshotTo,
    Yes,
)


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
    no_snapshot: NoSnapshot = False,
    keep_snapshots: KeepSnapshots = 10,
    snapshot_to: SnapshotTo = "",
    json_output: JsonOutput = False,
) -> None:
    """Delete everything the cluster created; nothing is left running or billing.

    On AWS every resource is found by its tag (no workspace needed, and a damaged state.json
    is no obstacle): instances first, then the instance profile and role, security groups, key
    pair, route table, internet gateway, subnet and VPC; a VPC or subnet you passed to `up` is
    left alone. On hosts you already have, the agents are stopped and what nomadctl wrote is
    removed; the machines stay. The cluster's ACL tokens go with its agents; the CA stays.
    Safe to run twice. A final raft snapshot is saved in the workspace first (see `snapshot
    list`) unless --no-snapshot.
    """
    from nomadctl import providers
    from nomadctl.cli.run import run_down
    from nomadctl.providers import state as cluster_state

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.workspace()
    announce(app_ctx)
    current = cluster_state.read(ws)
    if current.provider is None and current.damaged is None and not (region or profile):
        from nomadctl.cli.listing import aws_unavailable, nothing_to_delete

        why = aws_unavailable(None, current.aws_region)  # AWS not set up: nothing to ask
        if why is not None:
            nothing_to_delete(app_ctx.ui, app_ctx.home, ws.cluster, why, json_output)
            return
    if current.damaged is not None:
        how = (
            "finding its local agents from their directories"
            if current.provider == "local"
            else "finding its AWS resources by tag"
        )
        app_ctx.ui.info(f"note: the cluster's state is unreadable ({current.damaged}); {how}")
    options = providers.DownOptions(region, profile, force=force, ssh_wait=ssh_wait)
    provider = providers.for_down(current.provider, current.raw, options)
    run_down(
        app_ctx,
        provider,
        yes=yes,
        dry_run=dry_run,
        json_output=json_output,
        snapshot=not no_snapshot,
        keep_snapshots=keep_snapshots,
        snapshot_to=(snapshot_to, region, profile),
    )


def list_(
    ctx: typer.Context,
    region: AwsRegion = None,
    profile: AwsProfile = None,
    all_regions: Annotated[
        bool,
        typer.Option(
            "--all-regions",
            help="Look in every region the account has enabled (EC2 DescribeRegions) and "
            "say which; --json then gives {regions, clusters, failed}.",
        ),
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """List the clusters in the nomadctl home (local, hosts, AWS: where, nodes, healthy) and,
    when AWS credentials and a region are set, the clusters found by tag in that region."""
    from contextlib import suppress

    from nomadctl.cli.listing import aws_unavailable, workspaces
    from nomadctl.errors import CloudError, WorkspaceError
    from nomadctl.providers import state as cluster_state
    from nomadctl.providers.aws import infra

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    ws = app_ctx.workspace()
    state, _ = ws.read_state() if ws.state_path.exists() else ({}, None)
    with suppress(WorkspaceError):  # a damaged state only loses its region hint
        region = region or cluster_state.recorded_region(state)
    why = None if (region or profile or all_regions) else aws_unavailable()
    local = workspaces(ui, app_ctx.home, skip_aws=why is None, json_output=json_output)
    if why is not None:  # a machine without AWS set up: its own clusters, and no error
        if json_output:
            ui.json(local)
        ui.info(f"note: AWS clusters not listed ({why})")
        return
    failed: dict[str, str] = {}
    if all_regions:
        from nomadctl.providers.aws import regions

        with ui.progress("Looking for clusters in every enabled region") as step:
            found = regions.list_everywhere(region, profile, step)
        clusters, failed = found.clusters, found.failed
        if json_output:
            listed = found.to_dict()
            aws = [{**c, "provider": "aws"} for c in listed["clusters"]]
            ui.json({**listed, "clusters": local + aws})
        where = f"{len(found.regions)} regions ({', '.join(found.regions)})"
    else:
        region = infra.resolve_region(region, profile)
        with ui.progress(f"Looking for clusters in {region}"):
            clusters = infra.list_clusters(region, profile)
        if json_output:
            ui.json(local + [{**c.to_dict(), "provider": "aws"} for c in clusters])
        where = region
    if not json_output:
        _table(app_ctx, clusters)
        if not clusters:
            ui.info(f"no nomadctl clusters in {where}")
        elif all_regions:
            ui.info(f"looked in {where}")
    if failed:
        first = sorted(failed)[0]
        raise CloudError(
            f"could not look in {len(failed)} region(s) ({', '.join(sorted(failed))}); "
            f"{first}: {failed[first]}"
        )


def _table(app_ctx: AppContext, clusters: list) -> None:  # type: ignore[type-arg]
    def counts(states: dict[str, int]) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "0"

    app_ctx.ui.table(
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
