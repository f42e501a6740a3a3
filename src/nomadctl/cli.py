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
from nomadctl.errors import NomadctlError, UsageError
from nomadctl.helpformat import OrderedGroup, SectionedCommand, UnsetOrChoice, output_option
from nomadctl.ui import Ui, status_cell
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


def _old_region(value: str | None) -> str | None:
    """`certs --region`, the old name of --nomad-region, checked as --nomad-region is."""
    from nomadctl import validate

    if value is None:
        return None
    try:
        return validate.nomad_region(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


# ---- certs --------------------------------------------------------------------------------


@app.command(cls=SectionedCommand)
def certs(
    ctx: typer.Context,
    nomad_region: Annotated[
        str, typer.Option("--nomad-region", help="Nomad region in the certificates' names.")
    ] = "global",
    deprecated_region: Annotated[  # not `region`: nomadctl.toml's `region` is the AWS region
        str | None,
        typer.Option(
            "--region",
            hidden=True,
            callback=lambda v: _old_region(v),
            help="Deprecated alias of --nomad-region.",
        ),
    ] = None,
    domain: Annotated[str, typer.Option(help="Nomad domain in file names and CNs.")] = "nomad",
    days: Annotated[int, typer.Option(min=1, help="Validity of server/client/cli certs.")] = 365,
    ca_days: Annotated[int, typer.Option(min=1, help="Validity of the CA.")] = 1825,
    additional_dnsname: Annotated[
        list[str] | None,
        typer.Option(help="Extra DNS name for the server/client/cli certs (repeatable)."),
    ] = None,
    additional_ipaddress: Annotated[
        list[str] | None,
        typer.Option(help="Extra IP address for the server/client/cli certs (repeatable)."),
    ] = None,
    name_constraint: Annotated[
        bool,
        typer.Option(
            "--name-constraint",
            help="Limit the CA to the Nomad domain, localhost and extra domains.",
        ),
    ] = False,
    additional_domain: Annotated[
        list[str] | None,
        typer.Option(help="Extra domain the CA may sign for with --name-constraint (repeatable)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-issue the server, client and cli certificates.")
    ] = False,
    renew: Annotated[
        bool,
        typer.Option(
            "--renew",
            help="New keys and serials for the cli and every node certificate, same names and "
            "CA; the next `up` uploads them and reloads the agents (no restart).",
        ),
    ] = False,
    rotate_ca: Annotated[
        bool,
        typer.Option(
            "--rotate-ca",
            help="Step 1 of a CA rotation: a new CA (the old one stays trusted); "
            "then `up`, then `certs --rotate-ca --finish` and `up` again.",
        ),
    ] = False,
    finish: Annotated[
        bool,
        typer.Option(
            "--finish", help="With --rotate-ca: step 2, stop trusting the old CA (after `up`)."
        ),
    ] = False,
    show_gossip_key: Annotated[
        bool,
        typer.Option(
            "--show-gossip-key", help="Print the gossip encryption key (a secret) and nothing else."
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make the cluster's CA, server/client/cli certificates and gossip key, as `nomad tls` does.

    Existing files are kept; nothing is overwritten unless --force, --renew or --rotate-ca
    says so.
    """
    from nomadctl import certstore, pki

    app_ctx: AppContext = ctx.obj
    region_flag = "--nomad-region"
    if deprecated_region is not None:  # the Nomad region, once mistaken for the AWS region
        if nomad_region not in ("global", deprecated_region):
            raise UsageError("--region is the old name of --nomad-region: give one of them")
        nomad_region, region_flag = deprecated_region, "--region"
    if additional_domain and not name_constraint:
        raise UsageError("--additional-domain only makes sense with --name-constraint")
    if finish and not rotate_ca:
        raise UsageError("--finish ends a CA rotation: use it as --rotate-ca --finish")
    if renew and (force or rotate_ca):
        raise UsageError("--renew keeps the CA and the names: not with --force or --rotate-ca")
    for label, value in ((region_flag, nomad_region), ("--domain", domain)):
        if not pki.DNS_NAME_RE.match(value) or "." in value or "*" in value:
            raise UsageError(f"{label} {value!r} must be a single DNS label such as 'global'")
    opts = certstore.CertOptions(
        region=nomad_region,
        domain=domain,
        days=days,
        ca_days=ca_days,
        dns_names=pki.parse_dns_names(additional_dnsname or []),
        ip_addresses=pki.parse_ip_addresses(additional_ipaddress or []),
        name_constraint=name_constraint,
        additional_domains=pki.parse_dns_names(additional_domain or [], "--additional-domain"),
        force=force,
        rotate_ca=rotate_ca and not finish,
    )
    ui = app_ctx.ui
    if deprecated_region is not None:
        ui.info("note: --region is deprecated, use --nomad-region (the Nomad region)")
    ws = app_ctx.workspace()
    with ws.locked():
        if renew:
            records = certstore.renew(ws, opts)
        elif finish:
            records = certstore.finish_rotation(ws, opts)
        else:
            records = certstore.ensure(ws, opts)
        if show_gossip_key:
            typer.echo(certstore.read_gossip_key(ws))
            return
    if json_output:
        ui.json([r.to_dict() for r in records])
        return
    ui.table(
        f"Certificates of cluster {ws.cluster!r} in {ws.certs_dir}",
        ["Kind", "Status", "Expires", "File", "Names"],
        (
            (
                r.kind,
                status_cell(r.status) + (f" ({r.note})" if r.note else ""),
                (r.expires or "")[:10],
                os.path.relpath(r.path, ws.certs_dir),
                ", ".join(r.names),
            )
            for r in records
        ),
    )
    if rotate_ca and not finish:
        ui.info("next: `nomadctl up`, then `nomadctl certs --rotate-ca --finish` and `up` again")


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


SHELLS = ("bash", "zsh", "fish")


def detect_shell(environ: dict[str, str] | None = None) -> str:
    """The syntax `env` prints when --shell is not given: fish for a $SHELL named fish,
    else POSIX `export` lines (bash, zsh, dash, ksh all read them)."""
    shell = os.path.basename((os.environ if environ is None else environ).get("SHELL", ""))
    return shell if shell in SHELLS else "bash"


@app.command(cls=SectionedCommand)
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
    NOMAD_REGION and NOMAD_TOKEN for this cluster. NOMAD_TOKEN is the user token (run and
    operate jobs in the default namespace, read nodes); --management exports the management
    token instead. Files that do not exist are never exported.
    """
    from nomadctl import acl, lifecycle
    from nomadctl.errors import PkiError

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.workspace()
    ws.require_cluster("env")
    target = lifecycle.workspace_target(ws, token_kind=None)
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
    lines = lifecycle.env_lines(ws, shell or detect_shell(), management=management)
    if not management and acl.load_token(ws, "user") is None:
        app_ctx.ui.info(
            f"note: cluster {ws.cluster!r} has no user token (see `nomadctl acl-bootstrap`); "
            "NOMAD_TOKEN is unset. `nomadctl env --management` exports the management token"
        )
    for line in lines:
        typer.echo(line)


@app.command("acl-bootstrap", cls=SectionedCommand)
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
    from nomadctl import acl, lifecycle

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.workspace()
    _ignored_env_note(app_ctx, own_cluster=True)
    namespaces = tuple(user_namespace or ("default",))
    acl.user_policy_rules(namespaces)  # a bad namespace is a usage error before anything
    if not ws.state_path.exists():
        raise UsageError(
            f"no cluster {ws.cluster!r} in {ws.home}: acl-bootstrap works on a cluster "
            "made by `nomadctl up` (pick one with --cluster)"
        )
    with ws.locked():
        result = acl.bootstrap(
            ws,
            lifecycle.workspace_target(ws, token_kind=None),
            user_token=user_token,
            namespaces=namespaces,
            reset=lifecycle.reset_acl_bootstrap(ws) if reset else None,
            progress=_progress(app_ctx),
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


@app.command(cls=SectionedCommand, context_settings={"allow_interspersed_args": False})
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
    from nomadctl import lifecycle

    app_ctx: AppContext = ctx.obj
    args = list(command or [])
    if args[:1] == ["--"]:  # `nomadctl ssh NODE -- CMD`: that `--` was the user's separator
        args = args[1:]
    app_ctx.workspace().require_cluster("ssh")  # nothing is created for an unknown cluster
    argv = lifecycle.ssh_command(app_ctx.workspace(), node, args)
    os.execvp(argv[0], argv)  # noqa: S606 - hand the terminal to OpenSSH's client


# ---- AWS infrastructure: up, down, list ---------------------------------------------------

AwsRegion = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region.  [default: the cluster's recorded region, else AWS_REGION, "
        "AWS_DEFAULT_REGION or your AWS profile's]",
        show_default=False,
    ),
]
AwsProfile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="AWS profile from ~/.aws/config.  [default: AWS_PROFILE, else the default chain]",
        show_default=False,
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


RESOURCE_COLUMNS = ["Resource", "ID", "Status", "Detail"]
NOMAD_VERSION = "1.11.1"  # pinned default of `up --nomad-version`


def _resource_rows(resources: list, cluster: str) -> list[tuple]:  # type: ignore[type-arg]
    """One row per resource, narrow enough for 80 columns: instances by name, the rest by
    kind, with a name other than `nomadctl-<cluster>` leading the detail."""
    rows = []
    for r in resources:
        detail = r.detail
        if r.kind != "instance" and r.name != f"nomadctl-{cluster}":
            detail = f"{r.name}: {detail}" if detail else r.name
        label = r.name if r.kind == "instance" else r.kind
        rows.append((label, r.id or "", status_cell(r.status), detail))
    return rows


def _confirm(ui: Ui, question: str) -> None:
    if not typer.confirm(question, default=False, err=True):
        ui.info("cancelled; nothing was changed")
        raise typer.Exit(1)


@app.command(cls=SectionedCommand)
def up(
    ctx: typer.Context,
    region: AwsRegion = None,
    profile: AwsProfile = None,
    vpc_cidr: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS",
            help="CIDR of the VPC nomadctl creates.  "
            "[default: 10.42.0.0/16, or the existing VPC's]",
            show_default=False,
        ),
    ] = None,
    subnet_cidr: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS",
            help="CIDR of its subnet, inside --vpc-cidr.  [default: the VPC's first /24]",
            show_default=False,
        ),
    ] = None,
    vpc_id: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS", help="Your own VPC (with --subnet-id); `down` leaves it alone."
        ),
    ] = None,
    subnet_id: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS", help="Your own subnet to launch into; `down` leaves it alone."
        ),
    ] = None,
    availability_zone: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS",
            help="Zone of the new subnet.  [default: the first zone offering both instance types]",
            show_default=False,
        ),
    ] = None,
    allow_cidr: Annotated[
        list[str] | None,
        typer.Option(
            rich_help_panel="AWS",
            help="Who may reach SSH (22) and the Nomad API (4646), repeatable.  "
            "[default: your public IP/32, detected; never 0.0.0.0/0 unless you pass it]",
            show_default=False,
        ),
    ] = None,
    client_port: Annotated[
        list[str] | None,
        typer.Option(
            rich_help_panel="AWS",
            help="TCP port or range (8000-8100) to open on clients to --allow-cidr, repeatable.",
        ),
    ] = None,
    ssh_key: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel="SSH",
            help="Your own SSH key instead of a new ed25519 one: a private key (PATH.pub is "
            "imported) or a public key *.pub (private key next to it or in ssh-agent).",
            show_default=False,
        ),
    ] = None,
    servers: Annotated[
        int, typer.Option(rich_help_panel="AWS", min=1, help="Number of servers (odd).")
    ] = 3,
    clients: Annotated[
        int, typer.Option(rich_help_panel="AWS", min=0, help="Number of clients.")
    ] = 3,
    server_type: Annotated[
        str, typer.Option(rich_help_panel="AWS", help="EC2 instance type of servers.")
    ] = "t3.small",
    client_type: Annotated[
        str, typer.Option(rich_help_panel="AWS", help="EC2 instance type of clients.")
    ] = "t3.small",
    ami: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS",
            help="AMI to boot.  [default: the region's current Ubuntu 24.04 LTS, from SSM]",
            show_default=False,
        ),
    ] = None,
    root_volume_size: Annotated[
        int,
        typer.Option(
            rich_help_panel="AWS", min=8, help="Root volume size in GiB (gp3, encrypted)."
        ),
    ] = 20,
    server: Annotated[
        list[str] | None,
        typer.Option(
            "--server",
            rich_help_panel="Hosts you already have",
            help="Use a machine you already have as a server (IP, repeatable); skips AWS.",
            show_default=False,
        ),
    ] = None,
    client: Annotated[
        list[str] | None,
        typer.Option(
            "--client",
            rich_help_panel="Hosts you already have",
            help="Use a machine you already have as a client (IP, repeatable); skips AWS.",
            show_default=False,
        ),
    ] = None,
    nomad_version: Annotated[
        str, typer.Option(rich_help_panel="Nomad", help="Nomad version to install.")
    ] = NOMAD_VERSION,
    install_method: Annotated[
        str,
        typer.Option(
            rich_help_panel="Nomad",
            click_type=click.Choice(("apt", "zip")),
            help="How to install Nomad: apt (HashiCorp's repository) or zip (release "
            "zip checked against its SHA-256 sums).",
        ),
    ] = "apt",
    nomad_binary: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel="Nomad",
            help="Upload this nomad binary instead of installing (air-gapped hosts).",
            show_default=False,
        ),
    ] = None,
    edition: Annotated[
        str,
        typer.Option(
            rich_help_panel="Nomad",
            click_type=click.Choice(("community", "enterprise")),
            help="Nomad edition; enterprise needs --license-file.",
        ),
    ] = "community",
    license_file: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel="Nomad", help="Nomad Enterprise licence file.", show_default=False
        ),
    ] = None,
    nomad_region: Annotated[
        str, typer.Option(rich_help_panel="Nomad", help="Nomad region of the cluster.")
    ] = "global",
    datacenter: Annotated[
        str, typer.Option(rich_help_panel="Nomad", help="Nomad datacenter of the nodes.")
    ] = "dc1",
    node_pool: Annotated[
        str, typer.Option(rich_help_panel="Nomad", help="Node pool of the clients.")
    ] = "default",
    enable_raw_exec: Annotated[
        bool,
        typer.Option(
            "--enable-raw-exec",
            rich_help_panel="Nomad",
            help="Enable the raw_exec driver (unisolated; off by default).",
        ),
    ] = False,
    docker: Annotated[
        bool, typer.Option(rich_help_panel="Nomad", help="Install Docker on clients.")
    ] = True,
    ssh_user: Annotated[
        str, typer.Option(rich_help_panel="SSH", help="SSH user on the nodes (sudo if not root).")
    ] = "ubuntu",
    ssh_address: Annotated[
        str,
        typer.Option(
            rich_help_panel="SSH",
            click_type=UnsetOrChoice(("public", "private")),
            help="Reach nodes at their public or private address (private: from "
            "inside the VPC or over VPN).  [default: public on AWS]",
            show_default=False,
        ),
    ] = "",
    bastion: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="SSH",
            help="Jump host, user@host[:port], to reach the nodes through.",
            show_default=False,
        ),
    ] = None,
    parallel: Annotated[
        int, typer.Option(rich_help_panel="SSH", min=1, help="Nodes configured at once.")
    ] = 32,
    ssh_wait: Annotated[
        float,
        typer.Option(
            rich_help_panel="SSH", min=0, help="Seconds to wait for SSH on each node (fresh boots)."
        ),
    ] = 300.0,
    leader_timeout: Annotated[
        float,
        typer.Option(rich_help_panel="Nomad", min=1, help="Seconds to wait for a cluster leader."),
    ] = 300.0,
    acl_bootstrap: Annotated[
        bool, typer.Option(rich_help_panel="Nomad", help="Bootstrap ACLs once a leader exists.")
    ] = True,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            rich_help_panel="This machine",
            help="Run the cluster's agents as processes on this machine (no AWS, no SSH).",
        ),
    ] = False,
    releases_url: Annotated[
        str,
        typer.Option(
            rich_help_panel="Nomad",
            help="Where Nomad release zips come from (a mirror of releases.hashicorp.com).",
        ),
    ] = "https://releases.hashicorp.com",
    release_key: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel="Nomad",
            help="A mirror's own release-signing key (armored), with --release-key-fingerprint.",
            show_default=False,
        ),
    ] = None,
    release_key_fingerprint: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Nomad",
            help="Fingerprint (40 hex digits) --release-key must have.",
            show_default=False,
        ),
    ] = None,
    max_unavailable: Annotated[
        int,
        typer.Option(
            rich_help_panel="Day 2", min=1, help="Clients restarted (or replaced) at once."
        ),
    ] = 1,
    drain_deadline: Annotated[
        float,
        typer.Option(
            rich_help_panel="Day 2",
            min=0,
            help="Seconds a client's allocations get to move before it restarts or goes.",
        ),
    ] = 300.0,
    client_restart: Annotated[
        str,
        typer.Option(
            rich_help_panel="Day 2",
            help="Before a client restarts: drain it, or only mark it ineligible.",
            click_type=click.Choice(["drain", "ineligible"]),
        ),
    ] = "drain",
    yes: Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what exists and what would be created.")
    ] = False,
    skip_configure: Annotated[
        bool,
        typer.Option("--skip-configure", help="Stop after creating the hosts (no SSH)."),
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Create a secured Nomad cluster: hosts, certificates, agents, leader, ACLs.

    On AWS it first creates the network, firewall, SSH key, IAM profile and instances; with
    --server/--client it uses machines you already have. Every step finds what exists first,
    so re-running `up` after an error or an interruption carries on where it stopped.
    """
    from nomadctl.plan.options import UpOptions

    _confirm_file_settings(ctx)  # issue 15: risky settings from ./nomadctl.toml need a yes
    options = UpOptions(
        local=local,
        server_hosts=tuple(server or ()),
        client_hosts=tuple(client or ()),
        aws={
            "region": region,
            "profile": profile,
            "vpc_cidr": vpc_cidr,
            "subnet_cidr": subnet_cidr,
            "vpc_id": vpc_id,
            "subnet_id": subnet_id,
            "availability_zone": availability_zone,
            "allow_cidrs": tuple(allow_cidr or ()),
            "client_ports": tuple(client_port or ()),
            "server_type": server_type,
            "client_type": client_type,
            "ami": ami,
            "root_volume_size": root_volume_size,
        },
        servers=servers,
        clients=clients,
        nomad_version=nomad_version,
        install_method=install_method,
        nomad_binary=nomad_binary,
        releases_url=releases_url,
        release_key=release_key,
        release_key_fingerprint=release_key_fingerprint or "",
        edition=edition,
        license_file=license_file,
        nomad_region=nomad_region,
        datacenter=datacenter,
        node_pool=node_pool,
        enable_raw_exec=enable_raw_exec,
        docker=docker,
        leader_timeout=leader_timeout,
        acl_bootstrap=acl_bootstrap,
        ssh_key=ssh_key,
        ssh_user=ssh_user,
        ssh_address=ssh_address,
        bastion=bastion,
        parallel=parallel,
        ssh_wait=ssh_wait,
        max_unavailable=max_unavailable,
        drain_deadline=drain_deadline,
        client_restart=client_restart,
        yes=yes,
        dry_run=dry_run,
        skip_configure=skip_configure,
    )
    from nomadctl.cli_run import run_up

    run_up(ctx.obj, options, json_output)


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

    from nomadctl import lifecycle
    from nomadctl.errors import WorkspaceError
    from nomadctl.providers import aws

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    ws = app_ctx.workspace()
    state, damaged = ws.read_state() if ws.state_path.exists() else ({}, None)
    if damaged is None:
        try:  # the parts `down` uses must have their shapes
            aws.recorded_region(state)
            lifecycle.hosts_of(state)
        except WorkspaceError as exc:
            damaged = f"{ws.state_path}: {exc.message}"
    if damaged is not None:
        ui.info(
            f"note: the cluster's state is unreadable ({damaged}); finding its AWS resources by tag"
        )
        state = {}
    if state.get("provider") == "static":
        _down_static(
            app_ctx, yes=yes, dry_run=dry_run, json_output=json_output, force=force, wait=ssh_wait
        )
        return
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
    """After `down` on AWS: the workspace forgets the destroyed hosts (their pins), the ACL
    tokens of the agents that ran on them, and their IDs; it keeps the CA and the region."""
    from nomadctl import acl, lifecycle
    from nomadctl.providers import aws

    if not ws.state_path.exists() or any(r.status == "failed" for r in resources):
        return
    destroyed = any(r.kind == "instance" for r in resources)
    if damaged is not None:
        if destroyed:  # it was this AWS cluster's state: keep it for a look, out of the way
            aside = ws.state_path.with_name("state.json.damaged")
            ws.state_path.replace(aside)
            acl.forget_tokens(ws)
            ui.info(f"note: the unreadable state was moved to {aside}")
        return
    state = ws.load_state()
    if aws.recorded_region(state) not in (None, region):
        return  # the workspace's cluster lives elsewhere
    lifecycle.forget_pins(ws, lifecycle.hosts_of(state))  # issue 15: destroyed hosts' pins go
    if destroyed or state.get("provider") == "aws":
        acl.forget_tokens(ws)
    for key in ("hosts", "provider", "configured"):
        state.pop(key, None)
    state["aws"] = {"region": region}  # a second `down` (and the next `up`) find the region
    ws.save_state(state)


def _down_static(
    app_ctx: AppContext, *, yes: bool, dry_run: bool, json_output: bool, force: bool, wait: float
) -> None:
    """`down` for hosts the user keeps: stop the agents, remove what nomadctl wrote."""
    from nomadctl import acl, lifecycle
    from nomadctl.errors import RemoteError

    ui, ws = app_ctx.ui, app_ctx.workspace()
    hosts = lifecycle.hosts_of(ws.load_state())
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
        state = ws.load_state()
        left = [h for h in lifecycle.hosts_of(state) if h.name not in gone]
        lifecycle.forget_pins(ws, [h for h, _ in skipped])  # gone for good: its IP is free
        if left:
            state["hosts"] = [h.to_dict() for h in left]
            configured = dict(state.get("configured") or {})
            state["configured"] = {k: v for k, v in configured.items() if k not in gone}
        else:  # `provider` stays: a second `down` is a no-op
            for key in ("hosts", "configured"):
                state.pop(key, None)
        ws.save_state(state)
        if not any(h.role == "server" for h in left):
            acl.forget_tokens(ws)  # the servers' ACL state is gone: a new `up` bootstraps
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
