"""The AWS provider behind the common interface: network, firewall, key, IAM, instances.

The work is in `providers.aws` (find-or-create by tag); this adapter turns its plan into the
common `ProviderPlan` (with what it costs), hands the same plan to `provision`, and reaches
the instances over SSH.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nomadctl.hosts import Host, SshOptions, hosts_of
from nomadctl.node import render
from nomadctl.node.connect import forget_pins
from nomadctl.providers import DownOptions
from nomadctl.providers import state as cluster_state
from nomadctl.providers.aws import costs, infra, publicip, resize, teardown
from nomadctl.providers.aws import instances as aws_instances
from nomadctl.providers.aws.errors import translated
from nomadctl.providers.aws.first_contact import ConsoleCheckedAgents
from nomadctl.providers.aws.infra import AwsOptions, Provisioned
from nomadctl.providers.base import (
    Applied,
    Destroyed,
    Forgotten,
    PlannedHost,
    Progress,
    ProviderPlan,
    Reach,
)
from nomadctl.providers.ssh_agents import SshAgents
from nomadctl.workspace import Workspace

NAME = "aws"
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
USUAL_SERVERS = (1, 3, 5)
MANY_CLIENTS = 50


def _estimate(opts: AwsOptions, region: str, public: bool = True) -> costs.Estimate:
    credits = opts.cpu_credits
    return costs.estimate(
        [
            costs.Machines(
                "server", opts.server_type, opts.servers, opts.root_volume_size, public, credits
            ),
            costs.Machines(
                "client", opts.client_type, opts.clients, opts.root_volume_size, public, credits
            ),
        ],
        region,
        balancer=opts.api_endpoint == "nlb",  # the API's Network Load Balancer (point 2)
    )


def warnings(opts: AwsOptions) -> list[str]:
    """What a careful reviewer of the plan would point out before saying yes."""
    out = []
    open_to = [c for c in opts.allow_cidrs if c.strip() in OPEN_CIDRS]
    if open_to:
        out.append(
            f"--allow-cidr {open_to[0]} opens SSH (22) and the Nomad API (4646) to the whole "
            "internet (mTLS and ACLs still apply); prefer your own address range"
        )
    if opts.servers not in USUAL_SERVERS:
        out.append(
            f"{opts.servers} servers: Nomad recommends 3 or 5 (more servers slow every write)"
        )
    if opts.clients == 0:
        out.append("no clients: the cluster can take jobs but run none")
    elif opts.clients > MANY_CLIENTS:
        out.append(f"{opts.clients} clients: check your EC2 vCPU quota and the cost line")
    return out


def _planned_hosts(cluster: str, opts: AwsOptions, found: Provisioned) -> list[PlannedHost]:
    have = {h.name: h for h in found.hosts}
    replacing = {r.name: r.detail for r in found.resources if r.status == "replace"}
    out = []
    for role, count, itype in (
        ("server", opts.servers, opts.server_type),
        ("client", opts.clients, opts.client_type),
    ):
        for i in range(1, count + 1):
            name = f"{cluster}-{role}-{i}"
            host = have.get(name)
            action = "replace" if name in replacing else "keep" if host else "create"
            out.append(
                PlannedHost(
                    name,
                    role,  # type: ignore[arg-type]
                    (host.public_ip or host.private_ip) if host else "",
                    action,  # type: ignore[arg-type]
                    replacing.get(name, itype).split(",")[0],
                )
            )
    return out


@dataclass(frozen=True)
class AwsProvider:
    opts: AwsOptions
    ssh: SshOptions
    name: str = NAME

    def validate(self, cluster: str) -> None:
        self.opts.validate()

    def plan(self, ws: Workspace, progress: Progress) -> ProviderPlan:
        found = infra.plan(ws, self.opts, progress)
        public = bool(found.seen.get("public_ip", True))
        publicip.check_reach(
            public, ", ".join(self.opts.subnet_ids) or None, self.ssh.bastion, self.ssh.address
        )
        return ProviderPlan(
            provider=NAME,
            where=f"AWS {found.region}",
            hosts=_planned_hosts(ws.cluster, self.opts, found),
            resources=found.resources,
            changed=found.changed,
            spends_money=found.changed,
            costs=_estimate(self.opts, found.region, public),
            warnings=[*warnings(self.opts), *found.notes],
            detail=found,
        )

    def apply(self, ws: Workspace, plan: ProviderPlan, progress: Progress) -> Applied:
        result = infra.provision(ws, self.opts, progress, planned=plan.detail)
        joined = (ws.load_state().get("aws") or {}).get("auto_join") or {}
        auto_join = (
            render.AutoJoin(joined["tag_key"], joined["tag_value"], result.region)
            if joined.get("tag_key")
            else None
        )
        return Applied(result.hosts, result.resources, result.region, auto_join)

    def hosts(self, ws: Workspace) -> list[Host]:
        return hosts_of(ws.load_state()) if ws.state_path.exists() else []

    def agents(self, ws: Workspace) -> SshAgents:
        """SSH with the key `apply` recorded (the workspace's own, or --ssh-key)."""
        state = ws.load_state() if ws.state_path.exists() else {}
        saved = state.get("ssh") or {}
        key = self.ssh.key_path or (Path(saved["key_path"]) if saved.get("key_path") else None)
        region = (state.get("aws") or {}).get("region") or self.opts.region
        # issue 28 point 8: a new instance's host key is pinned from its console output
        return ConsoleCheckedAgents(replace(self.ssh, key_path=key), region, self.opts.profile)

    def remove(self, ws: Workspace, hosts: Sequence[Host], progress: Progress) -> None:
        """Terminate these instances (scale-in) and wait until they are gone."""

        ids = [h.instance_id for h in hosts if h.instance_id]
        if not ids:
            return
        region = (ws.load_state().get("aws") or {}).get("region") or self.opts.region
        conn = infra.connect(region, self.opts.profile)
        aws_instances.terminate(conn, ids, progress)

    def reach(self, ws: Workspace) -> Reach:
        """SSH to every node; the API through the load balancer when the cluster has one."""
        state = ws.load_state() if ws.state_path.exists() else {}
        endpoint = state.get("api_endpoint") or {}
        return Reach(ssh=True, api=endpoint.get("address") if isinstance(endpoint, dict) else None)

    # A changed type is made on the same instance (stop, modify, start): plan/replace.py
    # neither tears the agent down nor waits for a new node ID.
    replaces_in_place = True

    def replace(
        self, ws: Workspace, host: Host, plan: ProviderPlan, progress: Progress
    ) -> list[Host]:
        """A node whose instance type changed, changed on the same instance (resize.py): its
        agent stopped (a server leaves), the instance stopped, its type set, started again;
        its ID, root volume (Nomad's data) and private address stay. All hosts, after."""

        itype = self.opts.server_type if host.role == "server" else self.opts.client_type
        region = (ws.load_state().get("aws") or {}).get("region") or self.opts.region
        conn = infra.connect(region, self.opts.profile)
        resize.stop_agent(ws, conn, host, self.agents(ws).ssh, progress)
        with translated(conn):
            inst = resize.change_type(conn, host.name, host.instance_id or "", itype, progress)
        if host.public_ip and inst.get("PublicIpAddress") != host.public_ip:
            forget_pins(ws, [replace(host, private_ip="")])  # that address goes back to AWS
        seen = plan.detail.seen if isinstance(plan.detail, Provisioned) else {}
        again = Provisioned(  # the session and the --allow-cidr the plan used; all else anew
            ws.cluster, "", seen={k: seen[k] for k in ("aws", "allow") if k in seen}
        )
        return infra.provision(ws, self.opts, progress, planned=again).hosts

    def destroy(self, ws: Workspace, progress: Progress, dry_run: bool = False) -> Destroyed:
        """Everything tagged for the cluster in the region, found by tag (a damaged or
        missing state.json is no obstacle), deleted in dependency order."""

        region = infra.resolve_region(
            self.opts.region or cluster_state.read(ws).aws_region, self.opts.profile
        )
        resources = teardown.destroy(
            ws.cluster, region, progress, profile=self.opts.profile, dry_run=dry_run
        )
        return Destroyed(
            resources, where=f"AWS {region}", summary={"region": region}, kind=NAME, region=region
        )

    def forget(self, ws: Workspace, done: Destroyed) -> Forgotten:
        """The workspace forgets the hosts (their pins), the agents' ACL tokens and the IDs,
        keeping the CA and the region; an unreadable state of a cluster just deleted is set
        aside for a look. Nothing when something is left, or when there is no workspace."""

        if not ws.state_path.exists() or done.left:
            return Forgotten("kept" if ws.state_path.exists() else "no workspace")
        destroyed = any(r.kind == "instance" for r in done.resources)
        if cluster_state.read(ws).damaged is None:
            cluster_state.forget_aws_cluster(ws, done.summary["region"], destroyed)
            return Forgotten("forgotten")
        if destroyed:
            done.moved_aside = cluster_state.set_aside_damaged(ws)
            return Forgotten("moved aside", aside=done.moved_aside)
        return Forgotten("unreadable")


def for_down(state: dict, opts: DownOptions) -> AwsProvider:
    """`down`: the region resolved here, before anything is asked of AWS."""

    region = infra.resolve_region(opts.region, opts.profile, state)
    return AwsProvider(infra.AwsOptions(region=region, profile=opts.profile), SshOptions())
