"""The root command: global options, every command registered, each error one line and an exit code.

No boto3, paramiko, cryptography or HTTP at import time: `nomadctl --help` must stay fast,
so each command imports what it needs inside its body. No `from __future__ import annotations`
either: Typer would then `eval` every option's annotation string twice per command on each
run (about 15 ms of `--help`); real annotations are built once, at import.
"""

import os
import re
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from nomadctl import __version__
from nomadctl.cli import (
    certs,
    connect,
    current,
    doctor,
    down,
    lazytree,
    recover,
    snapshot,
    status,
    ui_cmd,
    up,
    workspace,
)
from nomadctl.cli import config as configfile
from nomadctl.cli.context import AppContext
from nomadctl.cli.helpformat import OrderedGroup, SectionedCommand, output_option
from nomadctl.cli.ui import Ui
from nomadctl.errors import NomadctlError, UsageError
from nomadctl.workspace import current_cluster, default_home, validate_cluster_name

ROOT_OPTIONS = ("--cluster", "--home", "--config")  # nomadctl's own, before any command

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
    origin = "--cluster" if source == click.core.ParameterSource.COMMANDLINE else "NOMADCTL_CLUSTER"
    if ctx.get_parameter_source("home") == default and "home" in cfg.globals:
        home = Path(cfg.globals["home"])
    home = (home or default_home()).expanduser()
    if source == default and "cluster" in cfg.globals:
        cluster, named, origin = cfg.globals["cluster"], True, str(path)
    elif source == default:  # `nomadctl use NAME` chose one, or the default
        chosen = current_cluster(home)
        cluster, named, origin = (chosen, True, "nomadctl use") if chosen else (cluster, False, "")
    ctx.obj = AppContext(
        home=home,
        cluster=validate_cluster_name(cluster),
        config_path=path,
        ui=Ui(),
        named=named,
        file_config=cfg,
        origin=origin or "the default",
    )


# ---- entry point --------------------------------------------------------------------------


def command() -> click.Command:
    """The Click command tree, with the per-option env var lines left out of --help and
    every `--json` also spelled `-o json` / `--output json` (`-o table` is the default).

    Every option still reads NOMADCTL_<COMMAND>_<OPTION>; the README's reference lists them.
    """
    return lazytree.build(app, finish=_finish)  # each command converted when first used


def _finish(cmd: click.Command) -> None:
    if not isinstance(cmd, click.Group):  # the root checks --home and --config itself
        configfile.guard(cmd)  # every option that reaches a node or ssh is checked
    cmd.params = [
        output_option(p) if isinstance(p, click.Option) and p.name == "json_output" else p
        for p in cmd.params
    ]
    for param in cmd.params:
        if isinstance(param, click.Option):
            param.show_envvar = False


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
        if "--output" in longs:  # `--json` takes no value: a wrong one came by -o/--output
            name = "-o/--output"
        text = f"{name}: {exc.message}"
    else:
        text = exc.format_message()
    text = " ".join(text.split()).rstrip(".")
    for kind in ("integer", "float"):  # IntRange/FloatRange name themselves "... range"
        text = text.replace(f"is not a valid {kind} range", f"is not a valid {kind}")
    # Click 8.5 suggests a command itself, and Typer too: say it once.
    text = re.sub(r"(Did you mean [^?]*\?)(?: \1)+", r"\1", text)
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.NoSuchOption) and exc.option_name in ROOT_OPTIONS and ctx:
        name, command = exc.option_name, ctx.command_path.partition(" ")[2]
        return f"{name} goes before the command: nomadctl {name} ... {command} ..."
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


# The commands, registered here (their modules never import this one); `--help` lists them
# in the order of a cluster's life (helpformat.COMMAND_ORDER).
app.command(cls=SectionedCommand)(certs.certs)
app.command(cls=SectionedCommand)(up.up)
app.command(cls=SectionedCommand)(status.status)
app.command(cls=SectionedCommand)(connect.env)
app.command(cls=SectionedCommand)(ui_cmd.ui)
app.command("acl-bootstrap", cls=SectionedCommand)(connect.acl_bootstrap)
app.command(cls=SectionedCommand, context_settings={"allow_interspersed_args": False})(connect.ssh)
app.command(cls=SectionedCommand)(connect.logs)
app.command(cls=SectionedCommand)(recover.recover)
app.command(cls=SectionedCommand)(down.down)
app.command("list", cls=SectionedCommand)(down.list_)
app.command(cls=SectionedCommand)(current.use)
app.command(cls=SectionedCommand)(doctor.doctor)
app.command(cls=SectionedCommand)(status.version)
snapshots = typer.Typer(
    name="snapshot",
    help="Save, list, check and restore raft snapshots of the cluster.",
    no_args_is_help=True,
    cls=OrderedGroup,
)
snapshots.command(cls=SectionedCommand)(snapshot.save)
snapshots.command("list", cls=SectionedCommand)(snapshot.list_)
snapshots.command(cls=SectionedCommand)(snapshot.inspect)
snapshots.command(cls=SectionedCommand)(snapshot.restore)
app.add_typer(snapshots)
workspaces = typer.Typer(
    name="workspace",
    help="Carry a cluster's workspace to another machine as one encrypted file.",
    no_args_is_help=True,
    cls=OrderedGroup,
)
workspaces.command("export", cls=SectionedCommand)(workspace.export)
workspaces.command("import", cls=SectionedCommand)(workspace.import_)
app.add_typer(workspaces)
