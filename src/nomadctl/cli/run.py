"""What `nomadctl up` does between parsing and exiting: build the plan, show it, ask,
run it step by step with progress, render the summary. Kept out of cli/up.py so that the
command body stays a parse-and-call and `--help` imports none of this."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any

from nomadctl.cli.ui import Ui, status_cell
from nomadctl.errors import RemoteError, UsageError
from nomadctl.plan import words
from nomadctl.plan.core import Plan, Step
from nomadctl.plan.options import UpOptions

ACTION_STYLE = {"create": "create", "keep": "exists", "use": "exists", "remove": "delete"}


def run_up(app_ctx: Any, options: UpOptions, json_output: bool) -> None:
    from nomadctl.plan import up as up_plan

    ui: Ui = app_ctx.ui
    ws = app_ctx.workspace()
    if options.dry_run:  # reads only: no lock, no workspace made
        with ui.progress(f"Planning cluster {ws.cluster!r}") as report:
            plan, run = up_plan.build(ws, options, report)
        show_plan(ui, plan, json_output)
        if plan.problems:
            raise UsageError(
                f"{len(plan.problems)} problem(s) to fix before `up`: {plan.problems[0]}"
            )
        return
    # The lock is held from reading the plan to the end of the run, the prompt included:
    # what the prompt showed is what runs, and another nomadctl meanwhile is told "busy".
    with ws.locked():
        with ui.progress(f"Planning cluster {ws.cluster!r}") as report:
            plan, run = up_plan.build(ws, options, report)
        _confirm_plan(ui, plan, options)
        try:
            plan.run(lambda step: _step_progress(ui, step))
        except BaseException:
            up_plan.cancel_background(run)
            raise
        finally:
            if plan.step("provision").status == "failed":
                _after_failure(ui, plan, ws)
    render_up(ui, ws, plan, run, json_output)
    if run.report is not None and run.report.failed:
        import os

        from rich.markup import escape

        from nomadctl.plan.report import failure_details, failure_message

        if os.environ.get("NOMADCTL_DEBUG"):  # each host's whole error, before the one line
            for line in failure_details(run.report):
                ui.info(escape(f"failed: {line}"))
        raise RemoteError(failure_message(run.report))


def _confirm_plan(ui: Ui, plan: Plan, options: UpOptions) -> None:
    """Anything billed, or the first use of machines you own, needs a yes."""
    pplan = plan.provider
    first_use = any(h.action == "use" for h in pplan.hosts)
    removes = [h.name for h in pplan.hosts if h.action == "remove"]
    if options.yes or not (pplan.spends_money or first_use or removes):
        for warning in plan.warnings:
            ui.info(f"warning: {warning}")
        return
    if pplan.spends_money:
        what = f"create/change the resources of cluster {plan.cluster!r} on {pplan.where}"
    elif removes:
        what = f"drain and remove {', '.join(removes)}"
    else:
        what = f"install Nomad on {len(pplan.hosts)} host(s) you already have"
    if not sys.stdin.isatty():
        cost = f" ({pplan.costs.text()})" if pplan.costs is not None else ""
        raise UsageError(
            f"`up` would {what}{cost}: pass --yes to confirm (stdin is not a terminal); "
            "--dry-run shows the plan"
        )
    show_plan(Ui(out=ui.err, err=ui.err), plan, json_output=False)
    from nomadctl.cli.options import _confirm

    if pplan.spends_money:
        question = f"Create/change these resources of cluster {plan.cluster!r}?"
    elif removes:
        question = f"Drain and remove {', '.join(removes)}?"
    else:
        question = f"Install Nomad on these {len(pplan.hosts)} host(s)?"
    _confirm(ui, question)


@contextmanager
def _step_progress(ui: Ui, step: Step):  # type: ignore[no-untyped-def]
    """Each step's lines while it runs, then ✓ with its outcome, or ✗ when it failed (an
    error, or an outcome that says it did not do its job)."""
    from rich.markup import escape

    try:
        with ui.progress(f"{step.name}: {step.detail}") as report:
            yield report
    except BaseException:
        ui.info(f"[red]✗[/] {escape(step.name)}: failed")
        raise
    if step.status == "failed":
        ui.info(f"[red]✗[/] {escape(step.name)}: {escape(step.outcome)}")
    elif step.status == "done" and step.name not in ("summary", "preflight"):
        ui.info(f"[green]✓[/] {escape(step.name)}: {escape(step.outcome)}")


def _after_failure(ui: Ui, plan: Plan, ws: Any) -> None:
    """Provisioning failed midway: say what exists (as recorded) and how to remove it."""
    from nomadctl.providers import state as cluster_state

    recorded = cluster_state.read(ws).raw.get(plan.provider.provider) or {}
    made = sorted(
        f"{k.removesuffix('_id')} {v}"
        for k, v in recorded.items()
        if k.endswith("_id") and isinstance(v, str) and v
    )
    what = f" ({', '.join(made)})" if made else ""
    ui.info(
        f"resources of cluster {plan.cluster!r} made so far may exist on {plan.provider.where}"
        f"{what}: re-run `nomadctl --cluster {plan.cluster} up` to finish, or "
        f"`nomadctl --cluster {plan.cluster} down` to remove them"
    )


def show_plan(ui: Ui, plan: Plan, json_output: bool) -> None:
    """The plan as the prompt and --dry-run show it: hosts, resources, cost, steps."""
    from nomadctl.cli.options import RESOURCE_COLUMNS, _resource_rows

    if json_output:
        ui.json(plan.to_dict())
        return
    pplan = plan.provider
    ui.table(
        f"Plan for cluster {plan.cluster!r} on {pplan.where}",
        ["Node", "Role", "Address", "Action", "Detail"],
        (
            (h.name, h.role, h.address, status_cell(ACTION_STYLE.get(h.action, h.action)), h.detail)
            for h in pplan.hosts
        ),
    )
    if pplan.resources:
        ui.table(
            "Resources",
            RESOURCE_COLUMNS,
            _resource_rows(pplan.resources, plan.cluster),
        )
        if not pplan.changed:
            ui.out.print("Nothing to change: every resource already exists.")
    if pplan.costs is not None:
        ui.out.print(f"Cost while running: {pplan.costs.text()}", markup=False)
    ui.table(
        "Steps",
        ["#", "Step", "What it does"],
        (
            (str(i), s.name, f"skipped ({s.skipped})" if s.skipped else s.detail)
            for i, s in enumerate(plan.steps, start=1)
        ),
    )
    if plan.kept:
        kept = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in plan.kept.items())
        ui.out.print(f"As the last `up` had them (a flag changes them): {kept}", markup=False)
    for warning in plan.warnings:
        ui.out.print(f"warning: {warning}", markup=False)
    for problem in plan.problems:
        ui.out.print(f"problem: {problem}", markup=False)


def render_up(ui: Ui, ws: Any, plan: Plan, run: Any, json_output: bool) -> None:
    """The summary of `up`: resources, nodes, and how to connect."""
    from nomadctl.cli.options import RESOURCE_COLUMNS, _resource_rows

    applied, report = run.applied, run.report
    hosts = applied.hosts if applied else []
    label = words.resources_label(plan.provider.provider)
    if json_output:
        data: dict[str, Any] = {"cluster": ws.cluster, "provider": plan.provider.provider}
        if applied is not None and label:
            data[label.lower()] = {
                "cluster": ws.cluster,
                "region": applied.region,
                "changed": any(r.status in ("created", "updated") for r in applied.resources),
                "resources": [r.to_dict() for r in applied.resources],
                "hosts": [h.to_dict() for h in hosts],
            }
        data.update(report.to_dict() if report else {"hosts": [h.to_dict() for h in hosts]})
        data["configured"] = report is not None and not report.failed
        data["steps"] = [s.to_dict() for s in plan.steps]
        ui.json(data)
        return
    if applied is not None and applied.resources and label:
        ui.table(
            f"{label} resources of cluster {ws.cluster!r} in {applied.region}",
            RESOURCE_COLUMNS,
            _resource_rows(applied.resources, ws.cluster),
        )
        made = {s: sum(r.status == s for r in applied.resources) for s in ("created", "updated")}
        if any(made.values()):
            ui.out.print(f"{label}: " + ", ".join(f"{n} {s}" for s, n in made.items() if n) + ".")
        else:
            ui.out.print(f"{label}: nothing to change, every resource already exists.")
    _nodes_table(ui, ws, hosts, report)
    if report is None or report.failed:
        return
    _connect_lines(ui, ws, plan, run, hosts, report)


def _nodes_table(ui: Ui, ws: Any, hosts: list[Any], report: Any) -> None:
    by_name = {r.host.name: r for r in report.hosts} if report else {}
    ui.table(
        f"Nodes of cluster {ws.cluster!r}",
        ["Node", "Role", "Private IP", "Public IP", "State"],
        (
            (
                h.name,
                h.role,
                h.private_ip,
                h.public_ip or "",
                status_cell(by_name[h.name].status) if h.name in by_name else "not configured",
            )
            for h in hosts
        ),
    )


def _connect_lines(ui: Ui, ws: Any, plan: Plan, run: Any, hosts: list[Any], report: Any) -> None:
    servers = [h for h in hosts if h.role == "server"]
    first = servers[0]
    reach = run.checked.provider.reach(ws)
    api = reach.api or f"https://{first.public_ip or first.private_ip}:{first.http_port}"
    lines = [
        f"\nNomad cluster {ws.cluster!r} is up: leader {report.leader}, {words.acl(report.acl)}.",
        f"  API:      {api} (mutual TLS)",
        f'  Connect:  eval "$(nomadctl --cluster {ws.cluster} env)" && nomad server members',
        f"  Status:   nomadctl --cluster {ws.cluster} status",
    ]
    lines += [f"  {line}" for line in words.summary_lines(ws.cluster, first, reach)]
    extra = getattr(plan.provider, "notes", None) or []
    lines += [f"  {n}" for n in extra]
    ui.out.print("\n".join(lines), markup=False)


def run_down(
    app_ctx: Any,
    provider: Any,
    *,
    yes: bool,
    dry_run: bool,
    json_output: bool,
    snapshot: bool = True,
    keep_snapshots: int = 10,
    snapshot_to: tuple[str, str | None, str | None] = ("", None, None),
) -> None:
    """`down` as a plan (find, delete, forget), the same for every provider: the find is
    what the prompt and --dry-run show; the provider's words place and explain the result."""
    from contextlib import nullcontext

    from nomadctl.plan import down as down_plan

    ui: Ui = app_ctx.ui
    ws = app_ctx.workspace()
    # Held from the find to the end, the prompt included (down never makes a workspace).
    with ws.locked() if ws.exists() and not dry_run else nullcontext():
        with ui.progress(f"Looking for the resources of cluster {ws.cluster!r}") as report:
            plan, run = down_plan.build(ws, provider, report, snapshot, keep_snapshots, snapshot_to)
        plan.dry_run = dry_run  # what --json says of it
        found = run.found
        if dry_run or not yes:
            _show_or_confirm_down(ui, plan, found, dry_run=dry_run, json_output=json_output)
            if dry_run or not found.resources:
                return
        plan.run(lambda step: _step_progress(ui, step))
    done = run.done or found
    if json_output:
        deleted = [r.to_dict() for r in done.resources]
        ui.json(plan.to_dict() | {"resources": deleted} | done.summary)
    elif done.resources:
        at = words.at(done.kind, done.region)
        _resources_table(ui, f"Deleted resources of cluster {ws.cluster!r} {at}", done, ws.cluster)
    else:
        ui.out.print(words.nothing(done, ws.cluster))
    for note in words.notes(done, ws.cluster):
        ui.info(note)
    error = words.error(done)
    if error is not None:
        raise error


def _show_or_confirm_down(
    ui: Ui, plan: Plan, found: Any, *, dry_run: bool, json_output: bool
) -> None:
    """--dry-run: the find on stdout; else the same on the terminal and a yes (none needed
    when there is nothing to delete). Never asks without a terminal."""
    count, cluster = len(found.resources), plan.cluster
    if not dry_run and count and not sys.stdin.isatty():
        raise UsageError(
            f"`down` deletes the {count} resource(s) of cluster {cluster!r} "
            f"{words.at(found.kind, found.region)}: "
            "pass --yes to confirm (stdin is not a terminal)"
        )
    if dry_run and json_output:
        ui.json(plan.to_dict() | found.summary)
        return
    target = ui if dry_run else Ui(out=ui.err, err=ui.err)
    if not count:
        target.out.print(words.nothing(found, cluster))
        return
    at = words.at(found.kind, found.region)
    _resources_table(target, f"Resources of cluster {cluster!r} {at} to delete", found, cluster)
    if not dry_run:
        from nomadctl.cli.options import _confirm

        _confirm(ui, f"Delete these {count} resources of cluster {cluster!r}?")


def _resources_table(ui: Ui, title: str, destroyed: Any, cluster: str) -> None:
    from nomadctl.cli.options import RESOURCE_COLUMNS, _resource_rows

    ui.table(title, RESOURCE_COLUMNS, _resource_rows(destroyed.resources, cluster))
