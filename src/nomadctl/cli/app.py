"""The `nomadctl` command line: parse options, call one function below, render the result.

No boto3, paramiko, cryptography or HTTP at import time: `nomadctl --help` must stay fast,
so each command imports what it needs inside its body. No `from __future__ import annotations`
either: Typer would then `eval` every option's annotation string twice per command on each
run (about 15 ms of `--help`); real annotations are built once, at import.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import click
import typer

from nomadctl import __version__
from nomadctl import config as configfile
from nomadctl.cli_options import (
    NOMAD_VERSION,
    JsonOutput,
    _confirm,
)
from nomadctl.errors import NomadctlError, UsageError
from nomadctl.helpformat import OrderedGroup, SectionedCommand, output_option
from nomadctl.ui import Ui
from nomadctl.workspace import Workspace, default_home, validate_cluster_name

app = typer.Typer(
    name="nomadctl",
    cls=OrderedGroup,
    help="From nothing to a secured HashiCorp Nomad cluster, and back.\n\n"
    "Every option can also be set in nomadctl.toml or as NOMADCTL_<COMMAND>_<OPTION> "
    "(e.g. NOMADCTL_UP_SERVERS=5); a flag wins over the environment, which wins over the file.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,  # tracebacks with locals could print secrets
    rich_markup_mode=None,  # plain Click help, see helpformat.py
    context_settings={
        "auto_envvar_prefix": "NOMADCTL",
        "help_option_names": ["-h", "--help"],
        "max_content_width": 120,
    },
)


@dataclass
class AppContext:
    """What the global options decide, handed to every command."""

    home: Path
    cluster: str
    config_path: Path | None
    ui: Ui
    named: bool = False  # --cluster, NOMADCTL_CLUSTER or the file's `cluster` chose it
    file_config: configfile.FileConfig | None = None

    def workspace(self) -> Workspace:
        return Workspace(self.home, self.cluster, named=self.named)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nomadctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    cluster: Annotated[
        str,
        typer.Option(
            envvar="NOMADCTL_CLUSTER",
            help="Cluster to work on: 1-32 lowercase letters, digits and '-'.",
            show_default=True,
        ),
    ] = "nomad",
    home: Annotated[
        Path | None,
        typer.Option(
            envvar="NOMADCTL_HOME",
            help="Directory holding one sub-directory per cluster.  [default: ~/.nomadctl]",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="NOMADCTL_CONFIG",
            help="Config file with defaults for any option.  [default: ./nomadctl.toml]",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            show_envvar=False,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """From nothing to a secured HashiCorp Nomad cluster, and back."""
    from nomadctl import validate

    assert isinstance(ctx.command, click.Group)
    configfile.guard(ctx.command)  # every option that reaches a node or ssh is checked
    for label, given in (("--home", home), ("--config", config)):
        try:
            if given is not None:
                validate.local_path(str(given))
        except ValueError as exc:
            raise UsageError(f"{label}: {exc}") from None
    path = configfile.find(config)
    data = configfile.read(path) if path else {}
    cfg = configfile.build(path, data, ctx.command, discovered=config is None)
    ctx.default_map = cfg.default_map
    source = ctx.get_parameter_source("cluster")
    default = click.core.ParameterSource.DEFAULT
    named = source != default
    if source == default and "cluster" in cfg.globals:
        cluster, named = cfg.globals["cluster"], True
    if ctx.get_parameter_source("home") == default and "home" in cfg.globals:
        home = Path(cfg.globals["home"])
    ctx.obj = AppContext(
        home=(home or default_home()).expanduser(),
        cluster=validate_cluster_name(cluster),
        config_path=path,
        ui=Ui(),
        named=named,
        file_config=cfg,
    )


def _confirm_file_settings(ctx: typer.Context) -> None:
    """Settings from a nomadctl.toml found in the current directory that widen access or
    change what runs on the nodes are shown, and need a yes even with --yes; without a
    terminal they are refused (pass them as flags, or name the file with --config)."""
    app_ctx: AppContext = ctx.obj
    if app_ctx.file_config is None:
        return
    risky = configfile.risky_file_settings(app_ctx.file_config, ctx)
    if not risky:
        return
    where = app_ctx.file_config.path
    ui = app_ctx.ui
    ui.err.print(f"{where}, found in the current directory, sets:", markup=False)
    for line in risky:
        ui.err.print(f"  {line}", markup=False)
    if ctx.params.get("dry_run"):
        return  # named in the plan; nothing is done, so nothing to confirm
    if not sys.stdin.isatty():
        names = ", ".join(line.split(" ", 1)[0] for line in risky)
        raise UsageError(
            f"{where} in the current directory sets {names}, which widen access or change "
            "what runs on the nodes; confirm by passing them as flags, or name the file "
            "with --config"
        )
    _confirm(ui, "Use these settings from the file? (--yes does not answer this)")


def _ignored_env_note(app_ctx: AppContext, own_cluster: bool = False) -> None:
    """One line on stderr when NOMAD_* variables in the shell are not followed."""
    from nomadctl import lifecycle

    ws = app_ctx.workspace()
    ignored = lifecycle.ignored_env(ws, own_cluster=own_cluster)
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


# ---- cluster API: status, env, acl-bootstrap -----------------------------------------------


def _progress(app_ctx: AppContext, quiet: bool = False):
    from rich.markup import escape

    ui = app_ctx.ui
    return (lambda _m: None) if quiet else (lambda m: ui.info(f"[dim]·[/] {escape(m)}"))


@app.command(cls=SectionedCommand)
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

    from nomadctl import status as status_mod

    app_ctx: AppContext = ctx.obj
    _ignored_env_note(app_ctx)
    ws = app_ctx.workspace()
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
                "certificates": [e.to_dict() for e in expiries],
                "certificate_warnings": warnings,
            }
        )
    else:
        from nomadctl.api import MEMBER_COLUMNS, NODE_COLUMNS, member_table, node_table

        ui.table(None, MEMBER_COLUMNS, member_table(report.members))
        ui.out.print()
        ui.table(None, NODE_COLUMNS, node_table(report.nodes))
        if expiries:
            ui.out.print()
            ui.table(
                None,
                ["Certificate", "Kind", "Expires", "Days left"],
                ((e.name, e.kind, f"{e.not_after:%Y-%m-%d}", str(e.days_left())) for e in expiries),
            )
    for problem in report.problems:
        ui.error(problem)
    if not report.healthy:
        raise typer.Exit(1)


@app.command(cls=SectionedCommand)
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


# ---- entry point --------------------------------------------------------------------------


def command() -> click.Command:
    """The Click command tree, with the per-option env var lines left out of --help and
    every `--json` also spelled `-o json` / `--output json` (`-o table` is the default).

    Every option still reads NOMADCTL_<COMMAND>_<OPTION>; the README's reference lists them.
    """
    cmd = typer.main.get_command(app)
    stack = [cmd]
    while stack:
        current = stack.pop()
        current.params = [
            output_option(p) if isinstance(p, click.Option) and p.name == "json_output" else p
            for p in current.params
        ]
        for param in current.params:
            if isinstance(param, click.Option):
                param.show_envvar = False
        if isinstance(current, click.Group):
            stack.extend(current.commands.values())
    return cmd


def usage_line(exc: click.ClickException) -> str:
    """Click's error as one line naming the flag, with where to look:
    `--servers: 'x' is not a valid integer (see nomadctl up --help)`."""
    if (
        isinstance(exc, click.BadParameter)
        and not isinstance(exc, click.MissingParameter)
        and exc.param is not None
    ):
        param = exc.param
        longs = [o for o in getattr(param, "opts", []) if o.startswith("--")]
        name = longs[0] if longs else param.human_readable_name
        text = f"{name}: {exc.message}"
    else:
        text = exc.format_message()
    text = " ".join(text.split()).rstrip(".")
    for kind in ("integer", "float"):  # IntRange/FloatRange name themselves "... range"
        text = text.replace(f"is not a valid {kind} range", f"is not a valid {kind}")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        text += f" (see {ctx.command_path} --help)"
    return text


def main() -> None:
    """Run the CLI; every error becomes one line on stderr and a non-zero exit code."""
    from nomadctl.errors import scrub_unknown

    ui = Ui()
    try:
        code = command().main(prog_name="nomadctl", standalone_mode=False)
    except NomadctlError as exc:
        ui.error(exc.message)
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `nomadctl`: the help
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # bad flags or values: one line, exit 2
        ui.error(scrub_unknown(usage_line(exc)))
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        ui.error("interrupted; re-run the same command to carry on where it stopped")
        sys.exit(130)
    except Exception as exc:  # a bug of ours: still one line unless asked for more
        if os.environ.get("NOMADCTL_DEBUG"):
            raise
        detail = scrub_unknown(" ".join(str(exc).split()))
        ui.error(
            f"unexpected {type(exc).__name__}: {detail} "
            "(set NOMADCTL_DEBUG=1 for a traceback and please report it)"
        )
        sys.exit(70)
    if code == 130:  # Typer turns Ctrl-C into Exit(130) before KeyboardInterrupt reaches us
        ui.error("interrupted; re-run the same command to carry on where it stopped")
    sys.exit(code if isinstance(code, int) else 0)


# The commands in their own modules register themselves on `app` when imported.
from nomadctl import cli_api, cli_certs, cli_down, cli_up  # noqa: E402, F401
from nomadctl.cli_api import SHELLS, detect_shell  # noqa: E402, F401
