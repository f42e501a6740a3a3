"""`nomadctl status` (members, client nodes, certificate expiry) and `nomadctl version`."""

from typing import Annotated, Any

import typer

from nomadctl import __version__
from nomadctl.cli.context import AppContext, announce, ignored_env_note
from nomadctl.cli.options import NOMAD_VERSION, JsonOutput


def status(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print members and nodes as JSON.")
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            min=0, help="Poll up to SECONDS until there is a leader and every server is alive."
        ),
    ] = 0.0,
    timeout: Annotated[
        float, typer.Option(min=0.5, help="Timeout of each API call, seconds.")
    ] = 5.0,
) -> None:
    """Show the `nomad server members` table, the client nodes and when the certificates expire.

    A warning on stderr for any certificate that expires within 30 days.
    Exit code 0 only when there is a leader and every expected server is alive.
    """
    from rich.markup import escape

    from nomadctl.cluster import status as status_mod

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace()
    announce(app_ctx)
    ignored_env_note(app_ctx)
    ui = app_ctx.ui
    expiries = status_mod.certificates(ws)
    warnings = status_mod.expiry.warnings(expiries)
    try:
        report = status_mod.collect(ws, wait=wait, timeout=timeout)
    finally:  # an expired certificate is the likeliest reason the cluster does not answer
        for warning in warnings:
            ui.info(f"[yellow]warning:[/] {escape(warning)}")
    if json_output:
        ui.json(
            {
                "members": report.members,
                "nodes": report.nodes,
                "healthy": report.healthy,
                "problems": report.problems,
                "unreachable_servers": report.silent,
                "hint": what_to_run(ws.cluster, report),
                "certificates": [e.to_dict() for e in expiries],
                "certificate_warnings": warnings,
            }
        )
    else:
        from nomadctl.cli import tables

        ui.table(
            None, tables.MEMBER_COLUMNS, tables.member_table(report.members), tables.MEMBER_DROP
        )
        ui.out.print()
        ui.table(None, tables.NODE_COLUMNS, tables.node_table(report.nodes), tables.NODE_DROP)
        if expiries:
            ui.out.print()
            ui.table(
                None,
                ["Certificate", "Kind", "Expires", "Days left"],
                ((e.name, e.kind, f"{e.not_after:%Y-%m-%d}", str(e.days_left())) for e in expiries),
                tables.CERT_DROP,
            )
    for problem in report.problems:
        ui.error(problem)
    hint = what_to_run(ws.cluster, report)
    if hint and not json_output:
        ui.info(hint)
    if not report.healthy:
        raise typer.Exit(1)


def what_to_run(cluster: str, report: Any) -> str | None:
    """The next command for an unhealthy cluster, in one line."""
    if report.healthy:
        return None
    ctl = f"nomadctl --cluster {cluster}"
    if report.majority_down:
        down = ", ".join(report.silent)
        return (
            f"a majority of the servers is down ({down}): `{ctl} up` starts them again; if "
            f"they are lost for good, `{ctl} recover` rebuilds the quorum from the survivors"
        )
    if report.silent:
        return (
            f"`{ctl} up` starts {', '.join(report.silent)} again; `{ctl} logs NODE` shows why "
            "a server stopped"
        )
    if report.leaderless:
        return (
            f"servers answer but have no leader: `{ctl} status --wait 60` waits for an "
            f"election; `{ctl} logs NODE` shows why none is held"
        )
    return f"`{ctl} status --wait 60` waits for the cluster to settle; `{ctl} up` repairs it"


def version(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Show nomadctl's version, Python's, and the Nomad version `up` installs by default."""
    import platform

    data = {
        "nomadctl": __version__,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "nomad_default": NOMAD_VERSION,
    }
    if json_output:
        ctx.obj.ui.json(data)
        return
    typer.echo(f"nomadctl {__version__}")
    typer.echo(f"Python {data['python']} ({data['python_implementation']})")
    typer.echo(f"Nomad {NOMAD_VERSION} (what `nomadctl up` installs unless --nomad-version)")
