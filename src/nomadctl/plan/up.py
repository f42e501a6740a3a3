"""`up` as one plan: preflight, certificates, provision, node certificates, configure,
leader, ACL bootstrap, summary.

`build` reads once (local checks, then the provider's plan: the only AWS read before the
prompt) and returns the `Plan` that the prompt and `--dry-run` show; `execute` runs that same
plan. Each step is safe to re-run: every one finds what exists before it makes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from nomadctl.cluster.api import warm_up
from nomadctl.errors import CloudError, RemoteError
from nomadctl.hosts import Host
from nomadctl.node import fleet
from nomadctl.node.confirm import Confirmer
from nomadctl.node.order import RolloutOptions
from nomadctl.pki import store
from nomadctl.plan import ca_rotation, preflight, scale, words
from nomadctl.plan import replace as replacing
from nomadctl.plan.core import Plan, Progress, Step, Trouble
from nomadctl.plan.finish import EarlyFinish, finish
from nomadctl.plan.options import UpOptions, Validated, record_spec, validate
from nomadctl.plan.report import UpReport
from nomadctl.plan.snapshots import AutoSnapshots, s3_copier
from nomadctl.providers.base import Applied, PlannedHost, ProviderPlan
from nomadctl.workspace import Workspace


@dataclass
class UpRun:
    """What the steps hand each other while `up` runs."""

    ws: Workspace
    checked: Validated
    plan: Plan
    applied: Applied | None = None
    report: UpReport | None = None
    early: Any = None  # EarlyFinish: leader + ACLs start once servers are done
    watching: Any = None  # the provider's watch of the agents while the cluster forms
    results: list[Any] = field(default_factory=list)
    going: list[Host] = field(default_factory=list)  # scale-in: nodes that leave
    snaps: AutoSnapshots | None = None  # automatic snapshots before risk
    risk_point: str = "configure"  # the configure pass a server restart belongs to
    plan_progress: Progress = lambda _m: None  # the running step's progress


def _going(ws: Workspace, checked: Validated, pplan: ProviderPlan) -> list[Host]:
    """Recorded nodes the new plan does not name: they leave (scale-in), shown in the plan."""
    recorded = checked.provider.hosts(ws)
    going = scale.surplus(ws, recorded, [h.name for h in pplan.hosts])
    scale.check([*recorded, *scale.leaving(ws)], going, snapshot=checked.options.snapshot)
    pplan.hosts += [
        PlannedHost(h.name, h.role, h.public_ip or h.private_ip, "remove", "drain, stop, remove")
        for h in going
    ]
    return going


def _problems(checked: Validated) -> list[preflight.Problem]:
    return preflight.check(checked.inputs)


def build(ws: Workspace, options: UpOptions, progress: Progress) -> tuple[Plan, UpRun]:
    """Validate, check local inputs, ask the provider what it would do; change nothing.

    Local problems stop here (before any AWS call) unless this is a dry run, which lists
    them all in the plan instead."""
    checked = validate(ws, options)
    if not options.dry_run:  # the API client's imports overlap the binary's proof and the rest
        warm_up()
    problems = _problems(checked)
    if problems and not options.dry_run:
        preflight.require(problems)
    if problems:  # dry run: show every problem, ask no one else anything
        provider_plan = ProviderPlan(provider=checked.provider.name, where="not read")
    else:
        provider_plan = _provider_plan(checked, ws, progress)
        prepare = getattr(checked.provider, "prepare", None)  # the local binary, proven
        if prepare is not None and not options.dry_run:
            prepare(ws, provider_plan, progress)
        reach = checked.provider.reach(ws)
        if reach.drivers == ():  # clients that run nothing: said before anything starts
            provider_plan.warnings.append(words.jobs(reach))
    going = _going(ws, checked, provider_plan)
    plan = Plan(
        "up",
        ws.cluster,
        provider_plan,
        problems=[p.text() for p in problems],
        dry_run=options.dry_run,
        kept=dict(checked.options.kept),
    )
    run = UpRun(ws, checked, plan, going=going)
    opts = checked.options
    run.snaps = AutoSnapshots(
        ws,
        enabled=opts.snapshot,
        keep=opts.keep_snapshots,
        copy=s3_copier(opts.snapshot_to, opts.aws.get("region"), opts.aws.get("profile")),
        leader_timeout=opts.leader_timeout,
    )
    plan.steps = _steps(run)
    return plan, run


def _provider_plan(checked: Validated, ws: Workspace, progress: Progress) -> ProviderPlan:
    """The provider's plan; AWS without a region or credentials says that `--local` needs
    neither (a first `up` on a machine with no AWS set up)."""
    try:
        return checked.provider.plan(ws, progress)
    except CloudError as exc:
        if checked.options.kind != "aws" or not words.aws_not_set_up(exc.message):
            raise
        raise CloudError(f"{exc.message}; {words.TRY_LOCAL}") from None


def _steps(run: UpRun) -> list[Step]:
    opts, pplan = run.checked.options, run.plan.provider
    creates = sum(h.action == "create" for h in pplan.hosts)
    keeps = len(pplan.hosts) - creates
    ca = store.ca_paths(run.ws)
    no_config = "--skip-configure" if opts.skip_configure else ""
    agents = run.checked.provider.agents(run.ws)
    reach = run.checked.provider.reach(run.ws)
    jobs = f"; {words.jobs(reach)}" if reach.drivers is not None else ""
    snap_note = (
        "; a raft snapshot first if a server restarts, is replaced or leaves"
        if run.snaps is not None and run.snaps.enabled and run.snaps.live()
        else ""
    )
    return [
        Step("preflight", "local inputs: CA, keys, binary, licence", lambda p: "passed"),
        Step(
            "certificates",
            f"reuse the CA in {ca.cert.parent}"
            if ca.cert.exists()
            else "create a CA, cli certificate and gossip key in the workspace",
            lambda p: _certificates(run),
        ),
        Step(
            "provision",
            f"{pplan.where}: {creates} node(s) to create, {keeps} to use"
            + (
                ", other resources to create or change"
                if creates == 0
                and any(getattr(r, "status", "") in ("create", "update") for r in pplan.resources)
                else ""
            ),
            lambda p: _provision(run, p),
        ),
        Step(
            "node certificates",
            "one certificate per node, signed by the CA",
            lambda p: _node_certificates(run),
            skipped=no_config,
        ),
        Step(
            "configure",
            f"install and configure Nomad on every node ({agents.describe()}{jobs})"
            + (
                "; CA rotation in two passes: the trust bundle to every node, then certificates"
                " of the new CA"
                if store.rotating(run.ws)
                else ""
            )
            + snap_note,
            lambda p: _configure(run, p),
            skipped=no_config,
        ),
        Step(
            "leader",
            f"wait up to {opts.leader_timeout:.0f}s for a leader",
            lambda p: _leader(run, p),
            skipped=no_config,
        ),
        Step(
            "acl bootstrap",
            "bootstrap ACLs once; save the management and user tokens",
            lambda p: _acl(run),
            skipped=no_config or ("" if opts.acl_bootstrap else "--no-acl-bootstrap"),
        ),
        Step(
            "replace",
            "one at a time, clients first, the leader last: " + ", ".join(replacing.planned(pplan)),
            lambda p: _replace(run, p),
            skipped=no_config or ("" if replacing.planned(pplan) else "no machine changes"),
        ),
        Step(
            "scale in",
            "drain, stop and remove: "
            + ", ".join(h.name for h in run.going)
            + (scale.TO_ONE_NOTE if _to_one(run) else ""),
            lambda p: _scale_in(run, p),
            skipped=no_config or ("" if run.going else "no node leaves"),
        ),
        Step("summary", "print how to connect", lambda p: "shown"),
    ]


def _to_one(run: UpRun) -> bool:
    """The scale-in ends with two servers becoming one (said in the plan)."""
    recorded = [*run.checked.provider.hosts(run.ws), *scale.leaving(run.ws)]
    return scale.to_one(recorded, run.going)


def _before(run: UpRun, key: str, reason: str, progress: Progress) -> None:
    if run.snaps is not None:
        run.snaps.before(key, reason, progress)


def _scale_in(run: UpRun, progress: Progress) -> str:
    servers = [h.name for h in run.going if h.role == "server"]
    if servers:
        _before(run, "scale-in", f"removing server(s) {', '.join(servers)}", progress)
    opts = run.checked.options
    return scale.run(
        run.ws,
        run.checked.provider,
        run.going,
        drain_deadline=opts.drain_deadline,
        progress=progress,
    )


def _certificates(run: UpRun) -> str:
    facts = run.checked.facts
    records = store.ensure(run.ws, store.CertOptions(region=facts.nomad_region))
    run.ws.update_state(
        nomad={"region": facts.nomad_region, "datacenter": facts.datacenter},
        install={"method": facts.install_method},
    )
    made = [r for r in records if getattr(r, "status", "") == "created"]
    return f"{len(made)} created, {len(records) - len(made)} reused"


def _provision(run: UpRun, progress: Progress) -> str:
    run.ws.create()
    record_spec(run.ws, run.checked.options)
    run.applied = run.checked.provider.apply(run.ws, run.plan.provider, progress)
    if run.going:  # out of "hosts" now, but tracked until they are gone
        scale.remember(run.ws, run.going)
    return f"{len(run.applied.hosts)} node(s)"


def _node_options(run: UpRun) -> fleet.NodeOptions:
    assert run.applied is not None
    facts = replace(
        run.checked.facts,
        gossip_key=store.ensure_gossip_key(run.ws)[0],
        servers=[h for h in run.applied.hosts if h.role == "server"],
        auto_join=run.applied.auto_join,
    )
    opts = run.checked.options

    def before_server_restart() -> None:
        _before(run, run.risk_point, f"restarting servers ({run.risk_point})", run.plan_progress)

    return fleet.NodeOptions(
        facts=facts,
        nomad_binary=opts.nomad_binary,
        license_file=opts.license_file,
        rollout=RolloutOptions(
            max_unavailable=opts.max_unavailable,
            drain_deadline=opts.drain_deadline,
            client_restart=opts.client_restart,  # type: ignore[arg-type]
        ),
        before_server_restart=before_server_restart,
    )


def _node_certificates(run: UpRun) -> str:
    assert run.applied is not None
    ca = store.load_ca(run.ws)
    region = run.checked.facts.nomad_region
    for host in run.applied.hosts:
        store.ensure_node_cert(
            run.ws,
            ca,
            name=host.name,
            kind=host.role,
            region=region,
            addresses=[host.private_ip, host.public_ip or ""],
            keep_previous=True,  # during a CA rotation: new leaves in configure's pass 2
        )
    return f"{len(run.applied.hosts)} node certificate(s) ready"


def _configure(run: UpRun, progress: Progress) -> str:
    """Configure every node; the leader wait and ACL bootstrap start in the background as
    soon as every server is configured (clients may take much longer: Docker)."""

    assert run.applied is not None
    opts = run.checked.options
    agents = run.checked.provider.agents(run.ws)
    hosts = run.applied.hosts
    watch = getattr(agents, "watch", None)  # local pid files, or systemd over SSH
    watching = run.watching = watch(run.ws, hosts) if watch else None
    run.early = EarlyFinish(
        run.ws, opts.acl_bootstrap, opts.leader_timeout, progress, watch=watching
    )
    run.plan_progress = progress
    rotating = bool(store.previous_leaves(run.ws, [h.name for h in hosts]))

    def configure_pass(node: fleet.NodeOptions, p: Progress, servers_done: Any) -> list[Any]:
        run.risk_point = f"CA rotation pass {2 if node.rotate_leaves else 1} of 2"
        if rotating:
            _before(run, run.risk_point, run.risk_point, p)
        else:
            run.risk_point = "rolling restart"
        run.plan_progress = p
        return agents.configure(run.ws, hosts, node, p, servers_done)

    try:  # in two passes during a CA rotation: the trust bundle, then the new leaves
        done = ca_rotation.configure(
            run.ws,
            hosts,
            _node_options(run),
            progress,
            configure_pass,
            on_servers_done=run.early.start,
            confirm=Confirmer(run.ws, watch=watching),
        )
    except BaseException:
        run.early.stop()
        _stop_watching(run)
        raise
    run.results = done.results
    run.report = UpReport(run.results, stopped=done.stopped)
    failed = run.report.failed
    passes = f" in {done.passes} passes (CA rotation)" if done.passes > 1 else ""
    outcome = f"{len(run.results) - len(failed)} of {len(run.results)} node(s) configured{passes}"
    return Trouble(f"{outcome}, {len(failed)} failed") if failed else outcome


def _leader(run: UpRun, progress: Progress) -> str:
    try:
        return _wait_leader(run, progress)
    finally:
        _stop_watching(run)


def _stop_watching(run: UpRun) -> None:
    """The watch of the agents ends with the leader wait (over SSH it holds connections)."""
    close = getattr(run.watching, "close", None)
    if close is not None:
        close()


def _wait_leader(run: UpRun, progress: Progress) -> str:
    assert run.report is not None
    if run.early is not None and run.early.thread is not None:
        run.early.progress = progress
        run.early.join()
        if run.early.error is not None and not run.report.failed:
            raise run.early.error
        run.report.leader, run.report.acl = run.early.report.leader, run.early.report.acl
    elif not run.report.failed:
        opts = run.checked.options
        finish(
            run.ws,
            run.report,
            bootstrap_acl=opts.acl_bootstrap,
            leader_timeout=opts.leader_timeout,
            progress=progress,
            watch=run.watching,
        )
    if run.report.leader:
        return f"leader {run.report.leader}"
    failed = [r.host.name for r in run.report.failed if r.host.role == "server"]
    why = f"{', '.join(failed)} failed to configure" if failed else "a node failed to configure"
    return Trouble(f"not waited for: {why}")


def _acl(run: UpRun) -> str:
    assert run.report is not None
    if run.report.acl:
        return words.acl(run.report.acl)
    return (
        Trouble("not bootstrapped: a node failed to configure")
        if run.report.failed
        else ("not bootstrapped")
    )


def _replace(run: UpRun, progress: Progress) -> str:
    """Nodes whose machine changed, made anew one at a time (plan/replace.py)."""
    assert run.applied is not None
    applied = run.applied

    def configure(hosts: list[Host], new: Host) -> None:
        applied.hosts = hosts
        _node_certificates(run)
        agents = run.checked.provider.agents(run.ws)
        (result,) = agents.configure(run.ws, [new], _node_options(run), progress)
        if result.status == "failed":
            raise RemoteError(f"could not configure it: {result.error}")
        if run.report is not None:  # the summary shows the new node
            run.report.hosts = [result if r.host.name == new.name else r for r in run.report.hosts]

    servers = [h.name for h in applied.hosts if h.role == "server"]
    replaced = [n for n in replacing.planned(run.plan.provider) if n in servers]
    if replaced:
        _before(run, "replace", f"replacing server(s) {', '.join(replaced)}", progress)
    job = replacing.Replacement(
        run.ws,
        run.checked.provider,
        run.plan.provider,
        list(applied.hosts),
        configure,
        run.checked.options.drain_deadline,
    )
    outcome = replacing.run(job, progress)
    applied.hosts = job.hosts
    # The others' join files name the new addresses for their next start (no restart: START_ONLY)
    others = [h for h in job.hosts if h.name not in replacing.planned(run.plan.provider)]
    agents = run.checked.provider.agents(run.ws)
    done = agents.configure(run.ws, others, _node_options(run), progress) if others else []
    failed = [r for r in done if r.status == "failed"]
    if failed:
        raise RemoteError(
            f"{outcome}, but {failed[0].host.name} could not learn the new addresses: "
            f"{failed[0].error}; re-run `nomadctl up`"
        )
    return outcome


def cancel_background(run: UpRun) -> None:
    """Ctrl-C or a failed step: end the background leader wait at once."""
    if run.early is not None:
        run.early.stop()
    _stop_watching(run)
