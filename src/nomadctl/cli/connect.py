"""`nomadctl env`, `acl-bootstrap`, `ssh` and `logs`: reaching the cluster once it runs."""

import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from nomadctl.cli.context import AppContext, announce, ignored_env_note, progress_for
from nomadctl.cli.ui import plain
from nomadctl.errors import UsageError
from nomadctl.workspace import known_text

SHELLS = ("bash", "zsh", "fish")


def detect_shell(environ: dict[str, str] | None = None) -> str:
    """The syntax `env` prints when --shell is not given: fish for a $SHELL named fish,
    else POSIX `export` lines (bash, zsh, dash, ksh all read them)."""
    shell = os.path.basename((os.environ if environ is None else environ).get("SHELL", ""))
    return shell if shell in SHELLS else "bash"


def env(
    ctx: typer.Context,
    shell: Annotated[
        str | None,
        typer.Option(
            click_type=click.Choice(SHELLS),
            help="Syntax of the lines.  [default: from $SHELL: fish for fish, else POSIX]",
            show_default=False,
        ),
    ] = None,
    management: Annotated[
        bool,
        typer.Option(
            "--management",
            help="Export the management token (full control) instead of the user token.",
        ),
    ] = False,
) -> None:
    """Print `export` lines for the nomad CLI: eval "$(nomadctl env)".

    Sets NOMAD_ADDR, NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME,
    NOMAD_REGION and NOMAD_TOKEN for this cluster, and NOMADCTL_CLUSTER, so that nomadctl's
    own commands in that shell act on it too (over `nomadctl use`). NOMAD_TOKEN is the user
    token (run and operate jobs in the default namespace, read nodes); --management exports
    the management token instead. Files that do not exist are never exported.
    """
    from nomadctl.cluster import acl
    from nomadctl.cluster.target import env_lines, workspace_target
    from nomadctl.errors import PkiError

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace("env")
    target = workspace_target(ws, token_kind=None)
    assert target.client_cert is not None
    region = "" if target.region == "global" else f" --region {target.region}"
    fixes = {
        target.ca_file: "the cluster's CA certificate: restore it from a backup (or "
        "`nomadctl certs --rotate-ca` and `nomadctl up` give the whole cluster a new CA)",
        target.client_cert[0]: f"the cli certificate: `nomadctl certs --force{region}` "
        "re-issues it from the cluster's CA",
        target.client_cert[1]: f"the cli key: `nomadctl certs --force{region}` "
        "re-issues it from the cluster's CA",
    }
    for path, fix in fixes.items():
        if not Path(path).is_file():
            raise PkiError(f"{path} does not exist, so it cannot be exported; it is {fix}")
    lines = env_lines(ws, shell or detect_shell(), management=management)
    announce(app_ctx)
    if not management and acl.load_token(ws, "user") is None:
        app_ctx.ui.info(
            f"note: cluster {ws.cluster!r} has no user token (see `nomadctl acl-bootstrap`); "
            "NOMAD_TOKEN is unset. `nomadctl env --management` exports the management token"
        )
    for line in lines:
        typer.echo(line)


def acl_bootstrap(
    ctx: typer.Context,
    show_secret: Annotated[
        bool,
        typer.Option(
            "--show-secret", help="Print the Secret ID (it is always saved in the workspace)."
        ),
    ] = False,
    user_token: Annotated[
        bool,
        typer.Option(help="Also create the least-privilege policy and a token for it."),
    ] = True,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset", help="If the cluster was bootstrapped and the token is lost: Nomad's reset."
        ),
    ] = False,
    user_namespace: Annotated[
        list[str] | None,
        typer.Option(
            help="Namespace the user token may operate jobs in (repeatable).  [default: default]",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the token as JSON.")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="How long to wait for a leader.")] = 120.0,
) -> None:
    """Bootstrap the cluster's ACLs and save the management token in the workspace.

    Always talks to the workspace's own cluster: NOMAD_ADDR and NOMAD_TOKEN are not followed.
    """
    from nomadctl.cluster import acl
    from nomadctl.cluster.target import workspace_target
    from nomadctl.providers import acl_reset

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace()
    announce(app_ctx)
    ignored_env_note(app_ctx, own_cluster=True)
    namespaces = tuple(user_namespace or ("default",))
    acl.user_policy_rules(namespaces)  # a bad namespace is a usage error before anything
    if not ws.state_path.exists():
        raise UsageError(
            f"no cluster {ws.cluster!r} in {ws.home}: acl-bootstrap works on a cluster "
            f"made by `nomadctl up` (pick one with --cluster; {known_text(ws.home)})"
        )
    with ws.locked():
        result = acl.bootstrap(
            ws,
            workspace_target(ws, token_kind=None),
            user_token=user_token,
            namespaces=namespaces,
            reset=acl_reset(ws) if reset else None,
            progress=progress_for(app_ctx),
            leader_timeout=timeout,
        )
    ui = app_ctx.ui
    token = result.management
    if json_output:
        shown = token if show_secret else {**token, "SecretID": None}
        ui.json(
            {"status": result.status, "token": shown, "path": str(acl.token_path(ws, "management"))}
        )
        return
    if result.status == "already":
        ui.info("ACLs were already bootstrapped; the stored management token still works.")
    ui.table(None, ["Field", "Value"], acl.token_rows(token, show_secret))
    ui.info(f"management token saved in {acl.token_path(ws, 'management')}")
    if result.user:
        ui.info(f"user token (policy {acl.USER_POLICY}) saved in {acl.token_path(ws, 'user')}")


def ssh(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node name (lab-server-1, server-1) or address.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="Command to run instead of a shell (after --).")
    ] = None,
) -> None:
    """Open a shell on a node (or run a command) with the cluster's key and pinned host key.

    What follows the node is the command, never options for ssh.
    """
    from nomadctl.node.connect import ssh_command

    app_ctx: AppContext = ctx.obj
    args = list(command or [])
    if args[:1] == ["--"]:  # `nomadctl ssh NODE -- CMD`: that `--` was the user's separator
        args = args[1:]
    app_ctx.workspace().require_cluster("ssh")  # nothing is created for an unknown cluster
    announce(app_ctx)
    argv = ssh_command(app_ctx.workspace(), node, args)
    os.execvp(argv[0], argv)  # noqa: S606 - hand the terminal to OpenSSH's client


def logs(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node name (lab-server-1, server-1) or address.")],
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=0, help="How many of the last lines (0: all).")
    ] = 200,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C ends).")
    ] = False,
) -> None:
    """Show a node's Nomad agent log (a local agent's file, or the journal over SSH)."""
    from nomadctl.providers import logs as logs_mod

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace("logs")
    announce(app_ctx)
    if not logs_mod.is_local(ws):
        argv = logs_mod.remote_command(ws, node, lines, follow)
        os.execvp(argv[0], argv)  # noqa: S606 - hand the terminal to OpenSSH's client
    path = logs_mod.local_log(ws, node)
    # the agent's log is text nomadctl did not write: shown with its control characters
    # escaped (`journalctl`, which a remote node's lines come through, does the same)
    sys.stdout.writelines(plain(line, keep_newlines=True) for line in logs_mod.tail(path, lines))
    sys.stdout.flush()
    if follow:
        for line in logs_mod.follow(path):
            sys.stdout.write(plain(line, keep_newlines=True))
            sys.stdout.flush()
