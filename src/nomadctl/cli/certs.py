"""`nomadctl certs`: the cluster's CA, certificates and gossip key, as `nomad tls` makes them."""

import os
from typing import Annotated

import typer

from nomadctl import validate
from nomadctl.cli.context import AppContext
from nomadctl.cli.ui import Ui, status_cell
from nomadctl.errors import UsageError
from nomadctl.workspace import Workspace


def _old_region(value: str | None) -> str | None:
    """`certs --region`, the old name of --nomad-region, checked as --nomad-region is."""
    from nomadctl import validate

    if value is None:
        return None
    try:
        return validate.nomad_region(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


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
    from nomadctl.pki import store

    app_ctx: AppContext = ctx.obj
    opts, region_flag = _cert_options(
        nomad_region, deprecated_region, domain, days, ca_days, additional_dnsname,
        additional_ipaddress, name_constraint, additional_domain, force, rotate_ca, finish, renew,
    )  # fmt: skip
    ui = app_ctx.ui
    if region_flag == "--region":
        ui.info("note: --region is deprecated, use --nomad-region (the Nomad region)")
    ws = app_ctx.workspace()
    with ws.locked():
        if renew:
            records = store.renew(ws, opts)
        elif finish:
            _rotation_served(ws)
            records = store.finish_rotation(ws, opts)
        else:
            records = store.ensure(ws, opts)
        if show_gossip_key:
            typer.echo(store.read_gossip_key(ws))
            return
    if json_output:
        ui.json([r.to_dict() for r in records])
        return
    _certs_table(ui, ws, records)
    if rotate_ca and not finish:
        ui.info("next: `nomadctl up`, then `nomadctl certs --rotate-ca --finish` and `up` again")


def _rotation_served(ws: Workspace) -> None:
    """Finish a rotation only when every server shows a certificate of the new CA over TLS
    (the cluster, not the workspace's copy of it, says whether `up` got there)."""
    from nomadctl.errors import PkiError
    from nomadctl.node.confirm import previous_ca_servers
    from nomadctl.pki import store

    if not store.rotating(ws) or not ws.state_path.exists():
        return
    left = previous_ca_servers(ws)
    if left:
        raise PkiError(
            f"{', '.join(left)} do(es) not show a certificate of the new CA over TLS yet; "
            "run `nomadctl up` until every node has one, then finish the rotation"
        )


def _cert_options(
    nomad_region: str,
    deprecated_region: str | None,
    domain: str,
    days: int,
    ca_days: int,
    additional_dnsname: list[str] | None,
    additional_ipaddress: list[str] | None,
    name_constraint: bool,
    additional_domain: list[str] | None,
    force: bool,
    rotate_ca: bool,
    finish: bool,
    renew: bool,
):  # type: ignore[no-untyped-def]
    """`certs`' flags checked together, before anything is written; the options and the
    flag that named the Nomad region."""
    from nomadctl.pki import issue, store

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
        if not validate.fits(issue.DNS_NAME_RE, value, 63) or "." in value or "*" in value:
            raise UsageError(f"{label} {value!r} must be a single DNS label such as 'global'")
    opts = store.CertOptions(
        region=nomad_region,
        domain=domain,
        days=days,
        ca_days=ca_days,
        dns_names=issue.parse_dns_names(additional_dnsname or []),
        ip_addresses=issue.parse_ip_addresses(additional_ipaddress or []),
        name_constraint=name_constraint,
        additional_domains=issue.parse_dns_names(additional_domain or [], "--additional-domain"),
        force=force,
        rotate_ca=rotate_ca and not finish,
    )
    return opts, region_flag


def _certs_table(ui: Ui, ws: Workspace, records: list) -> None:  # type: ignore[type-arg]
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
