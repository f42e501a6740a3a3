"""`nomadctl use [NAME]`: the cluster commands act on when none is named (kubectl's
`use-context`), kept in a file of the nomadctl home; without NAME, which one that is and why."""

from typing import Annotated

import typer

from nomadctl.cli.context import AppContext


def use(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(help="The cluster to act on from now on; omit it to see the current one."),
    ] = None,
) -> None:
    """Set the cluster every command acts on when neither --cluster, NOMADCTL_CLUSTER nor
    nomadctl.toml names one; without NAME, print the current cluster and what chose it.
    """
    import os

    from rich.markup import escape

    from nomadctl.workspace import known_clusters, known_text, set_current_cluster

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    if name is None:
        typer.echo(app_ctx.cluster)
        hint = {
            "NOMADCTL_CLUSTER": "set in this shell, e.g. by `nomadctl env`; it wins over "
            "`nomadctl use NAME` until unset",
            "--cluster": "named on this command line",
        }.get(app_ctx.origin, "`nomadctl use NAME` sets it")
        ui.info(escape(f"({app_ctx.origin}; {hint})"))
        return
    path = set_current_cluster(app_ctx.home, name)
    typer.echo(f"Commands now act on cluster {name!r} when none is named ({path}).")
    if name not in known_clusters(app_ctx.home):
        ui.info(escape(f"note: cluster {name!r} is not made yet (`nomadctl up` makes it); "
                       f"{known_text(app_ctx.home)}"))  # fmt: skip
    env = os.environ.get("NOMADCTL_CLUSTER", "").strip()
    if env and env != name:
        ui.info(escape(f"note: NOMADCTL_CLUSTER={env} in this shell still wins over it"))
