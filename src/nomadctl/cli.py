"""The `nomadctl` command line: parse options, call one function below, render the result.

No boto3, paramiko, cryptography or HTTP at import time: `nomadctl --help` must stay fast,
so each command imports what it needs inside its body.
"""

from __future__ import annotations

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
from nomadctl.ui import Ui, status_cell
from nomadctl.workspace import Workspace, default_home, validate_cluster_name

app = typer.Typer(
    name="nomadctl",
    help="From nothing to a secured HashiCorp Nomad cluster, and back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # tracebacks with locals could print secrets
    rich_markup_mode="rich",
    context_settings={"auto_envvar_prefix": "NOMADCTL", "help_option_names": ["-h", "--help"]},
)


@dataclass
class AppContext:
    """What the global options decide, handed to every command."""

    home: Path
    cluster: str
    config_path: Path | None
    ui: Ui

    def workspace(self) -> Workspace:
        return Workspace(self.home, self.cluster)


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
    path = configfile.find(config)
    data = configfile.read(path) if path else {}
    assert isinstance(ctx.command, click.Group)
    cfg = configfile.build(path, data, ctx.command)
    ctx.default_map = cfg.default_map
    default = click.core.ParameterSource.DEFAULT
    if ctx.get_parameter_source("cluster") == default and "cluster" in cfg.globals:
        cluster = cfg.globals["cluster"]
    if ctx.get_parameter_source("home") == default and "home" in cfg.globals:
        home = Path(cfg.globals["home"])
    ctx.obj = AppContext(
        home=(home or default_home()).expanduser(),
        cluster=validate_cluster_name(cluster),
        config_path=path,
        ui=Ui(),
    )


# ---- certs --------------------------------------------------------------------------------


@app.command()
def certs(
    ctx: typer.Context,
    nomad_region: Annotated[
        str, typer.Option("--region", help="Nomad region in the certificates' names.")
    ] = "global",
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
        bool, typer.Option(help="Limit the CA to the Nomad domain, localhost and extra domains.")
    ] = False,
    additional_domain: Annotated[
        list[str] | None,
        typer.Option(help="Extra domain the CA may sign for with --name-constraint (repeatable)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Re-issue the server, client and cli certificates.")
    ] = False,
    rotate_ca: Annotated[
        bool,
        typer.Option(help="Make a new CA (the old one is moved aside) and re-issue every cert."),
    ] = False,
    show_gossip_key: Annotated[
        bool, typer.Option(help="Print the gossip encryption key (a secret) and nothing else.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make the cluster's CA, server/client/cli certificates and gossip key, as `nomad tls` does.

    Existing files are kept; nothing is overwritten unless --force or --rotate-ca says so.
    """
    from nomadctl import certstore, pki

    app_ctx: AppContext = ctx.obj
    if additional_domain and not name_constraint:
        raise UsageError("--additional-domain only makes sense with --name-constraint")
    for label, value in (("--region", nomad_region), ("--domain", domain)):
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
        rotate_ca=rotate_ca,
    )
    ws = app_ctx.workspace()
    with ws.locked():
        records = certstore.ensure(ws, opts)
        if show_gossip_key:
            typer.echo(certstore.read_gossip_key(ws))
            return
    ui = app_ctx.ui
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


# ---- cluster API: status, env, acl-bootstrap -----------------------------------------------


def _progress(app_ctx: AppContext, quiet: bool = False):
    ui = app_ctx.ui
    return (lambda _m: None) if quiet else (lambda m: ui.info(f"[dim]·[/] {m}"))


@app.command()
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
    """Show the `nomad server members` table and the client nodes.

    Exit code 0 only when there is a leader and every expected server is alive.
    """
    from nomadctl import status as status_mod

    app_ctx: AppContext = ctx.obj
    report = status_mod.collect(app_ctx.workspace(), wait=wait, timeout=timeout)
    ui = app_ctx.ui
    if json_output:
        ui.json(
            {
                "members": report.members,
                "nodes": report.nodes,
                "healthy": report.healthy,
                "problems": report.problems,
            }
        )
    else:
        from nomadctl.api import MEMBER_COLUMNS, NODE_COLUMNS, member_table, node_table

        ui.table(None, MEMBER_COLUMNS, member_table(report.members))
        ui.out.print()
        ui.table(None, NODE_COLUMNS, node_table(report.nodes))
    for problem in report.problems:
        ui.error(problem)
    if not report.healthy:
        raise typer.Exit(1)


@app.command()
def env(
    ctx: typer.Context,
    shell: Annotated[str, typer.Option(help="Syntax of the lines: bash, zsh or fish.")] = "bash",
) -> None:
    """Print `export` lines for the nomad CLI: eval "$(nomadctl env)".

    Sets NOMAD_ADDR, NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME,
    NOMAD_REGION and NOMAD_TOKEN (the management token) for this cluster.
    """
    from nomadctl import lifecycle

    if shell not in ("bash", "zsh", "fish"):
        raise UsageError(f"--shell {shell!r}: use bash, zsh or fish")
    app_ctx: AppContext = ctx.obj
    for line in lifecycle.env_lines(app_ctx.workspace(), shell):
        typer.echo(line)


@app.command("acl-bootstrap")
def acl_bootstrap(
    ctx: typer.Context,
    show_secret: Annotated[
        bool, typer.Option(help="Print the Secret ID (it is always saved in the workspace).")
    ] = False,
    user_token: Annotated[
        bool,
        typer.Option(help="Also create the least-privilege policy and a token for it."),
    ] = True,
    reset: Annotated[
        bool,
        typer.Option(help="If the cluster was bootstrapped and the token is lost: Nomad's reset."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the token as JSON.")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="How long to wait for a leader.")] = 120.0,
) -> None:
    """Bootstrap the cluster's ACLs and save the management token in the workspace."""
    from nomadctl import acl, lifecycle

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.workspace()
    with ws.locked():
        result = acl.bootstrap(
            ws,
            lifecycle.workspace_target(ws),
            user_token=user_token,
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


# ---- AWS infrastructure: up, down, list ---------------------------------------------------

AwsRegion = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region.  \\[default: the cluster's recorded region, else AWS_REGION, "
        "AWS_DEFAULT_REGION or your AWS profile's]",
        show_default=False,
    ),
]
AwsProfile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="AWS profile from ~/.aws/config.  \\[default: AWS_PROFILE, else the default chain]",
        show_default=False,
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _resource_rows(resources: list) -> list[tuple]:  # type: ignore[type-arg]
    return [(r.kind, r.name, r.id or "", status_cell(r.status), r.detail) for r in resources]


def _confirm(ui: Ui, question: str) -> None:
    if not typer.confirm(question, default=False, err=True):
        ui.info("cancelled; nothing was changed")
        raise typer.Exit(1)


@app.command()
def up(
    ctx: typer.Context,
    region: AwsRegion = None,
    profile: AwsProfile = None,
    vpc_cidr: Annotated[
        str | None,
        typer.Option(
            help="CIDR of the VPC nomadctl creates.  "
            "\\[default: 10.42.0.0/16, or the existing VPC's]",
            show_default=False,
        ),
    ] = None,
    subnet_cidr: Annotated[
        str | None,
        typer.Option(
            help="CIDR of its subnet, inside --vpc-cidr.  \\[default: the VPC's first /24]",
            show_default=False,
        ),
    ] = None,
    vpc_id: Annotated[
        str | None,
        typer.Option(help="Your own VPC (with --subnet-id); `down` leaves it alone."),
    ] = None,
    subnet_id: Annotated[
        str | None,
        typer.Option(help="Your own subnet to launch into; `down` leaves it alone."),
    ] = None,
    availability_zone: Annotated[
        str | None,
        typer.Option(
            help="Zone of the new subnet.  "
            "\\[default: the first zone offering both instance types]",
            show_default=False,
        ),
    ] = None,
    allow_cidr: Annotated[
        list[str] | None,
        typer.Option(
            help="Who may reach SSH (22) and the Nomad API (4646), repeatable.  "
            "\\[default: your public IP/32, detected; never 0.0.0.0/0 unless you pass it]",
            show_default=False,
        ),
    ] = None,
    client_port: Annotated[
        list[str] | None,
        typer.Option(
            help="TCP port or range (8000-8100) to open on clients to --allow-cidr, repeatable."
        ),
    ] = None,
    ssh_key: Annotated[
        Path | None,
        typer.Option(
            help="Your own SSH key instead of a new ed25519 one: a private key (PATH.pub is "
            "imported) or a public key *.pub (private key next to it or in ssh-agent).",
            show_default=False,
        ),
    ] = None,
    servers: Annotated[int, typer.Option(min=1, help="Number of servers (odd).")] = 3,
    clients: Annotated[int, typer.Option(min=0, help="Number of clients.")] = 3,
    server_type: Annotated[str, typer.Option(help="EC2 instance type of servers.")] = "t3.small",
    client_type: Annotated[str, typer.Option(help="EC2 instance type of clients.")] = "t3.small",
    ami: Annotated[
        str | None,
        typer.Option(
            help="AMI to boot.  \\[default: the region's current Ubuntu 24.04 LTS, from SSM]",
            show_default=False,
        ),
    ] = None,
    root_volume_size: Annotated[
        int, typer.Option(min=8, help="Root volume size in GiB (gp3, encrypted).")
    ] = 20,
    yes: Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what exists and what would be created.")
    ] = False,
    skip_configure: Annotated[
        bool,
        typer.Option(
            "--skip-configure",
            help="Stop after the AWS infrastructure (for now `up` always stops there).",
        ),
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Create the cluster's AWS infrastructure: network, firewall, SSH key, IAM, instances.

    Everything is found by tag first, so re-running `up` after an error or an interruption
    carries on where it stopped and never duplicates anything.
    """
    from nomadctl.providers import aws

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    opts = aws.AwsOptions(
        region=region,
        profile=profile,
        vpc_cidr=vpc_cidr,
        subnet_cidr=subnet_cidr,
        vpc_id=vpc_id,
        subnet_id=subnet_id,
        availability_zone=availability_zone,
        allow_cidrs=tuple(allow_cidr or ()),
        client_ports=tuple(client_port or ()),
        ssh_key=ssh_key,
        servers=servers,
        clients=clients,
        server_type=server_type,
        client_type=client_type,
        ami=ami,
        root_volume_size=root_volume_size,
    )
    opts.validate()
    ws = app_ctx.workspace()
    if dry_run:
        with ui.progress("Looking at what exists") as report:
            planned = aws.plan(ws, opts, report)
        _show_plan(ui, planned, json_output)
        return
    with ws.locked():
        if not yes and sys.stdin.isatty():
            with ui.progress("Looking at what exists") as report:
                planned = aws.plan(ws, opts, report)
            if planned.changed:
                _show_plan(ui, planned, json_output=False, to_stderr=True)
                _confirm(ui, f"Create/change these resources of cluster {ws.cluster!r}?")
        with ui.progress(f"Provisioning cluster {ws.cluster!r} on AWS") as report:
            result = aws.provision(ws, opts, report)
        # Node configuration over SSH comes here (unless --skip-configure) once it exists.
    configured = False
    if json_output:
        ui.json({**result.to_dict(), "configured": configured})
        return
    ui.table(
        f"AWS resources of cluster {ws.cluster!r} in {result.region}",
        ["Kind", "Name", "ID", "Status", "Detail"],
        _resource_rows(result.resources),
    )
    ui.table(
        None,
        ["Host", "Role", "Private IP", "Public IP", "Instance"],
        ((h.name, h.role, h.private_ip, h.public_ip or "", h.instance_id) for h in result.hosts),
    )
    counts = {s: sum(r.status == s for r in result.resources) for s in ("created", "updated")}
    if result.changed:
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        ui.out.print(f"Infrastructure ready: {summary}.")
    else:
        ui.out.print("Nothing to change: every resource already exists.")
    ui.info(
        "Node configuration over SSH is not part of `up` yet; "
        f"the hosts are recorded in {ws.state_path}."
    )


def _show_plan(ui: Ui, planned, json_output: bool, to_stderr: bool = False) -> None:  # type: ignore[no-untyped-def]
    if json_output:
        ui.json(planned.to_dict())
        return
    target = Ui(out=ui.err, err=ui.err) if to_stderr else ui
    target.table(
        f"Plan for cluster {planned.cluster!r} in {planned.region}",
        ["Kind", "Name", "ID", "Action", "Detail"],
        _resource_rows(planned.resources),
    )
    if not planned.changed:
        target.out.print("Nothing to change: every resource already exists.")


@app.command()
def down(
    ctx: typer.Context,
    region: AwsRegion = None,
    profile: AwsProfile = None,
    yes: Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """Delete every AWS resource of the cluster, found by its tag (no workspace needed).

    Instances first, then the instance profile and role, security groups, key pair, route
    table, internet gateway, subnet and VPC. A VPC or subnet you passed to `up` is left alone.
    """
    from contextlib import nullcontext

    from nomadctl.errors import CloudError
    from nomadctl.providers import aws

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    ws = app_ctx.workspace()
    state = ws.load_state() if ws.state_path.exists() else {}
    region = aws.resolve_region(region or (state.get("aws") or {}).get("region"), profile)
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
            ["Kind", "Name", "ID", "Action", "Detail"],
            _resource_rows(planned),
        )
        if dry_run:
            return
        _confirm(ui, f"Delete these {len(planned)} resources of cluster {cluster!r}?")
    with ws.locked() if ws.exists() else nullcontext():
        with ui.progress(f"Deleting cluster {cluster!r} in {region}") as report:
            resources = aws.destroy(cluster, region, report, profile=profile)
        failed = [r for r in resources if r.status == "failed"]
        if ws.state_path.exists() and not failed:
            state = ws.load_state()
            if (state.get("aws") or {}).get("region") in (None, region):
                for key in ("aws", "hosts", "provider"):
                    state.pop(key, None)
                ws.save_state(state)
    if json_output:
        ui.json(
            {"cluster": cluster, "region": region, "resources": [r.to_dict() for r in resources]}
        )
    elif resources:
        ui.table(
            f"Deleted resources of cluster {cluster!r} in {region}",
            ["Kind", "Name", "ID", "Status", "Detail"],
            _resource_rows(resources),
        )
    else:
        ui.out.print(f"Nothing to delete: no resources tagged for {cluster!r} in {region}.")
    if failed:
        first = failed[0]
        raise CloudError(
            f"could not delete {len(failed)} resource(s), e.g. {first.kind} {first.id}: "
            f"{first.detail}; fix that and re-run `nomadctl down`"
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    region: AwsRegion = None,
    profile: AwsProfile = None,
    json_output: JsonOutput = False,
) -> None:
    """List the clusters found by tag in a region, with their instance counts and states."""
    from nomadctl.providers import aws

    app_ctx: AppContext = ctx.obj
    ui = app_ctx.ui
    with ui.progress("Looking for clusters"):
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
        ui.info("no nomadctl clusters in this region")


# ---- entry point --------------------------------------------------------------------------


def main() -> None:
    """Run the CLI; our own errors become one line on stderr and a non-zero exit code."""
    ui = Ui()
    try:
        code = app(prog_name="nomadctl", standalone_mode=False)
    except NomadctlError as exc:
        ui.error(exc.message)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # bad flags: Click's own usage message
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        ui.error("interrupted; re-run the same command to carry on where it stopped")
        sys.exit(130)
    except Exception as exc:  # a bug of ours: still one line unless asked for more
        if os.environ.get("NOMADCTL_DEBUG"):
            raise
        ui.error(
            f"unexpected {type(exc).__name__}: {exc} "
            "(set NOMADCTL_DEBUG=1 for a traceback and please report it)"
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
