"""`nomadctl doctor`: what this machine needs for each kind of cluster, each check ok,
warning or problem with its fix (plan/doctor.py finds them); exit 1 on a problem."""

import importlib
import threading

import typer

from nomadctl.cli.context import AppContext
from nomadctl.cli.options import NOMAD_VERSION, JsonOutput
from nomadctl.cli.ui import Styled

MARK = {
    "ok": Styled("[green]ok[/]"),
    "warning": Styled("[yellow]warning[/]"),
    "problem": Styled("[bold red]problem[/]"),
}


def _load_rich() -> None:
    for name in ("rich.console", "rich.table", "rich.markup", "rich.text"):
        importlib.import_module(name)


def doctor(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Check this machine for local, hosts and AWS clusters: Python, the Nomad binary and its
    version, Docker and root for the drivers, loopback and ports, AWS credentials and region,
    an SSH key, and the clock against the current cluster. Exit 1 on a problem.
    """
    from nomadctl.plan.doctor import PROBLEM, examine

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    if not json_output:  # rich's table loads while the probes wait on sockets and processes
        threading.Thread(target=_load_rich, daemon=True).start()
    findings = examine(app_ctx.workspace(), NOMAD_VERSION)
    if json_output:
        ui.json([f.to_dict() for f in findings])
    else:
        ui.table(
            f"This machine, for cluster {app_ctx.cluster!r} and others",
            ["Check", "For", "Status", "Detail"],
            (
                (
                    f.check,
                    f.applies,
                    MARK[f.level],
                    f.detail + (f"; fix: {f.fix}" if f.fix and f.level != "ok" else ""),
                )
                for f in findings
            ),
            drop=("For",),
        )
    problems = [f for f in findings if f.level == PROBLEM]
    if problems:
        ui.error(f"{len(problems)} problem(s): {problems[0].check}: {problems[0].detail}")
        raise typer.Exit(1)
