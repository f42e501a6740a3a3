"""`nomadctl recover`: Nomad's outage recovery for servers that lost their quorum for good."""

import sys
from typing import Annotated

import typer

from nomadctl.cli.context import AppContext, progress_for
from nomadctl.cli.options import JsonOutput, Yes, _confirm
from nomadctl.errors import UsageError


def _show(app_ctx: AppContext, plan: object) -> None:
    from nomadctl.plan.recover import RecoverPlan

    assert isinstance(plan, RecoverPlan)
    err = app_ctx.ui.err
    survivors, gone = plan.survivors, plan.gone
    err.print(
        f"Cluster {plan.cluster!r} has no leader: {len(gone)} of {len(plan.servers)} servers "
        "are gone for good.",
        markup=False,
    )
    for s in gone:
        err.print(f"  gone:     {s.host.name}: {s.why}", markup=False)
    for s in survivors:
        state = "running" if s.running else "stopped"
        err.print(f"  survivor: {s.host.name} ({state}), raft ID {s.node_id}", markup=False)
    names = ", ".join(s.host.name for s in survivors)
    err.print("recover will:", markup=False)
    err.print(f"  1. stop {names} (no leave: they stay in raft)", markup=False)
    err.print(
        f"  2. write peers.json into <data_dir>/{plan.raft_dir}/ of each, naming only them:",
        markup=False,
    )
    for s in survivors:
        err.print(
            f'       {{"id": "{s.node_id}", "address": "{s.rpc}", "non_voter": false}}',
            markup=False,
        )
    err.print(f"  3. start {names}: they apply it, keep their data, elect a leader", markup=False)
    err.print(
        f"  4. wait for that leader; then `nomadctl up` brings the servers back to "
        f"{len(plan.servers)}",
        markup=False,
    )
    if any(s.why.startswith("does not answer") for s in gone):
        err.print(
            "A server counted as gone must not come back with its old data: empty its "
            "data_dir before it runs again (Nomad's outage-recovery guide).",
            markup=False,
        )


def recover(
    ctx: typer.Context,
    yes: Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what recover finds and would do; do nothing.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the recovered servers' leader.")
    ] = 120.0,
    json_output: JsonOutput = False,
) -> None:
    """Bring back a cluster that lost a majority of its servers for good.

    Nomad's outage recovery (raft protocol 3): the servers that still have their data are
    stopped, each gets the same peers.json naming only them, and they are started again;
    they keep their data (jobs, variables, ACLs) and elect a leader. `nomadctl up` then
    brings the server count back. Refused while the cluster has a leader, or while a
    majority of its servers still has its data (they elect a leader by themselves).
    """
    from nomadctl.plan import recover as recover_mod

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    ws = app_ctx.cluster_workspace("recover")
    progress = progress_for(app_ctx, quiet=json_output and dry_run)
    with ws.locked():
        plan = recover_mod.find(ws, progress)
        if dry_run:
            if json_output:
                ui.json(plan.to_dict())
            else:
                _show(app_ctx, plan)
            return
        _show(app_ctx, plan)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    "recover stops servers and rewrites their raft configuration: "
                    "pass --yes to confirm (stdin is not a terminal)"
                )
            _confirm(ui, f"Recover cluster {plan.cluster!r} this way?")
        done = recover_mod.recover(ws, plan, leader_timeout=timeout, progress=progress)
    if json_output:
        ui.json(done.to_dict())
        return
    typer.echo(f"Cluster {ws.cluster!r} recovered: leader {done.leader}")
    for note in done.notes:
        typer.echo(note)
