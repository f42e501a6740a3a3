"""What every command shares: the context the global options build (`AppContext`), the
confirmation of risky settings from a found nomadctl.toml, the note on ignored NOMAD_*
variables, and the progress callback handed to the library."""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from nomadctl import providers
from nomadctl.cli import config as configfile
from nomadctl.cli.options import _confirm
from nomadctl.cli.ui import Ui, plain
from nomadctl.errors import UsageError
from nomadctl.workspace import Workspace


@dataclass
class AppContext:
    """What the global options decide, handed to every command."""

    home: Path
    cluster: str
    config_path: Path | None
    ui: Ui
    named: bool = False  # --cluster, NOMADCTL_CLUSTER, the file's `cluster` or `use` chose it
    file_config: configfile.FileConfig | None = None
    origin: str = "the default"  # what chose the cluster: --cluster, NOMADCTL_CLUSTER, ...

    def workspace(self) -> Workspace:
        """The workspace, checked to be trusted (its owner's alone) before any use."""
        return Workspace(self.home, self.cluster, named=self.named).verify()

    def cluster_workspace(self, command: str | None = None) -> Workspace:
        """The workspace of a cluster to read or act on: one whose state.json is gone is
        found from its local agents' own files (state.json rebuilt, said in one line);
        with `command`, an unknown cluster is one line naming it, and nothing is created."""
        ws = self.workspace()
        note = providers.restore_state(ws)
        if note is not None:
            self.ui.info(f"note: {plain(note)}")
        if command is not None:
            ws.require_cluster(command)
        return ws


def confirm_file_settings(ctx: click.Context) -> None:
    """Settings from a nomadctl.toml found in the current directory that decide what runs,
    where it comes from, whom to trust or where the workspace is (`config.FILE_SETTINGS`)
    are shown, and need a yes even with --yes; without a terminal they are refused (pass
    them as flags, or name the file with --config). Every command runs this first
    (`helpformat.SectionedCommand.invoke`)."""
    app_ctx = ctx.obj
    if not isinstance(app_ctx, AppContext) or app_ctx.file_config is None:
        return
    risky = configfile.risky_file_settings(app_ctx.file_config, ctx)
    if not risky:
        return
    where = app_ctx.file_config.path
    ui = app_ctx.ui
    ui.err.print(f"{plain(str(where))}, found in the current directory, sets:", markup=False)
    for line in risky:
        ui.err.print(f"  {plain(line)}", markup=False)
    if ctx.params.get("dry_run"):
        return  # named in the plan; nothing is done, so nothing to confirm
    if not sys.stdin.isatty():
        names = ", ".join(line.split(" ", 1)[0] for line in risky)
        raise UsageError(
            f"{where} in the current directory sets {names}, which decide what runs, where "
            "it comes from or whom to trust; confirm by passing them as flags, or name the "
            "file with --config"
        )
    _confirm(ui, "Use these settings from the file? (--yes does not answer this)")


def announce(app_ctx: AppContext, new: bool = False) -> None:
    """The first progress line on a terminal: which cluster this command acts on, and what
    chose it. Not in a pipe or a log (an error stays one line there), and not for a cluster
    that does not exist (the error names it) unless `new` (`up`)."""
    from rich.markup import escape

    if not sys.stderr.isatty():
        return
    if not new and not app_ctx.workspace().state_path.is_file():
        return
    app_ctx.ui.info(f"[dim]{escape(f'cluster {app_ctx.cluster!r} ({app_ctx.origin})')}[/]")


def ignored_env_note(app_ctx: AppContext, own_cluster: bool = False) -> None:
    """One line on stderr when NOMAD_* variables in the shell are not followed."""
    from nomadctl.cluster.target import ignored_env

    ws = app_ctx.workspace()
    ignored = ignored_env(ws, own_cluster=own_cluster)
    if ignored:
        why = (
            "it works on the workspace's own cluster"
            if own_cluster
            else (f"--cluster {ws.cluster} was given" if ws.named else "NOMAD_ADDR is not set")
        )
        app_ctx.ui.info(
            f"note: ignoring {', '.join(ignored)} from the environment ({why}); "
            f"talking to cluster {ws.cluster!r}"
        )


def progress_for(app_ctx: AppContext, quiet: bool = False) -> Callable[[str], None]:
    from rich.markup import escape

    ui = app_ctx.ui
    return (lambda _m: None) if quiet else (lambda m: ui.info(f"[dim]·[/] {escape(m)}"))
