"""`nomadctl up`: its options, parsed into one `UpOptions`; the run is `cli.run.run_up`."""

from pathlib import Path
from typing import Annotated

import click
import typer

from nomadctl.cli.context import announce
from nomadctl.cli.helpformat import UnsetOrChoice
from nomadctl.cli.options import (
    NOMAD_VERSION,
    AwsProfile,
    AwsRegion,
    JsonOutput,
    KeepSnapshots,
    NoSnapshot,
    SnapshotTo,
    Yes,
)


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
        list[str] | None,
        typer.Option(
            rich_help_panel="AWS",
            help="CIDR of a subnet, inside --vpc-cidr; repeatable, one per zone (one CIDR: the "
            "next blocks of its size for the other zones).  [default: the VPC's first /24s]",
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
        list[str] | None,
        typer.Option(
            rich_help_panel="AWS",
            help="Your own subnet to launch into, repeatable, one per zone; `down` leaves them "
            "alone.",
        ),
    ] = None,
    zones: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS",
            help="How many Availability Zones (1 to 6), or which (a,b,c): a subnet in each, "
            "servers one per zone, clients spread the same way.  [default: 3 zones offering "
            "both instance types; an existing cluster keeps its zones]",
            show_default=False,
        ),
    ] = None,
    availability_zone: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="AWS",
            help="One zone for the whole cluster (the same as --zones with one name).",
            show_default=False,
        ),
    ] = None,
    api_endpoint: Annotated[
        str,
        typer.Option(
            rich_help_panel="AWS",
            help="nlb: a Network Load Balancer (TCP 4646, mTLS passes through) in front of the "
            "servers, the address env/status use; none: the servers' own addresses.",
        ),
    ] = "nlb",
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
    cpu_credits: Annotated[
        str,
        typer.Option(
            rich_help_panel="AWS",
            help="CPU credits of T2/T3/T3a/T4g instances: standard (throttled to the baseline "
            "when spent) or unlimited (surplus billed; the plan's cost line says how much).",
        ),
    ] = "standard",
    client_instance_profile: Annotated[
        bool,
        typer.Option(
            "--client-instance-profile",
            rich_help_panel="AWS",
            help="Give clients their own IAM instance profile, with no permissions, for you to "
            "attach what jobs need (kept once made).  [default: clients get none]",
        ),
    ] = False,
    public_ip: Annotated[
        bool | None,
        typer.Option(
            "--public-ip/--no-public-ip",
            rich_help_panel="AWS",
            help="Give nodes a public IPv4 (billed).  [default: when the subnet routes to an "
            "internet gateway; without, reach nodes with --bastion or from inside the VPC]",
            show_default=False,
        ),
    ] = None,
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
            rich_help_panel="Day 2",
            min=1,
            help="Clients restarted at once in a rolling restart "
            "(replaced machines go one at a time).",
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
    no_snapshot: NoSnapshot = False,
    keep_snapshots: KeepSnapshots = 10,
    snapshot_to: SnapshotTo = "",
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
    so re-running `up` after an error or an interruption carries on where it stopped. What
    shapes the cluster (counts, instance types, Nomad version and install, datacenter, node
    pool, drivers) stays as the last `up` had it unless given again.
    """
    from nomadctl.plan.options import SPEC, UpOptions

    unset = click.core.ParameterSource.DEFAULT
    options = UpOptions(
        given=frozenset(k for k in SPEC if ctx.get_parameter_source(k) != unset),
        local=local,
        server_hosts=tuple(server or ()),
        client_hosts=tuple(client or ()),
        aws={
            "region": region,
            "profile": profile,
            "vpc_cidr": vpc_cidr,
            "subnet_cidr": tuple(subnet_cidr or ()) or None,
            "vpc_id": vpc_id,
            "subnet_id": tuple(subnet_id or ()) or None,
            "availability_zone": availability_zone,
            "zones": zones,
            "api_endpoint": api_endpoint,
            "allow_cidrs": tuple(allow_cidr or ()),
            "client_ports": tuple(client_port or ()),
            "server_type": server_type,
            "client_type": client_type,
            "ami": ami,
            "root_volume_size": root_volume_size,
            "cpu_credits": cpu_credits,
            "public_ip": public_ip,
            "client_instance_profile": client_instance_profile,
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
        snapshot=not no_snapshot,
        keep_snapshots=keep_snapshots,
        snapshot_to=snapshot_to,
        yes=yes,
        dry_run=dry_run,
        skip_configure=skip_configure,
    )
    from nomadctl.cli.run import run_up

    announce(ctx.obj, new=True)
    run_up(ctx.obj, options, json_output)
