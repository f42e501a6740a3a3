"""How each kind of cluster's results read: providers return facts (`Destroyed`,
`Forgotten`, `Reach`), and these functions choose the words `up` and `down` show for them:
where the resources are, the line when there is nothing, the notes after a `down`, the error
it exits with, the summary's ways in, and which task drivers run the sample jobs."""

from __future__ import annotations

from nomadctl.errors import CloudError, NomadctlError, RemoteError
from nomadctl.hosts import Host
from nomadctl.providers.base import Destroyed, Forgotten, Reach

AWS, STATIC, LOCAL = "aws", "static", "local"
TRY_LOCAL = (
    "or run `nomadctl up --local` for a cluster on this machine (no AWS needed), or "
    "`--server ADDR --client ADDR` for hosts you already have"
)


def acl(status: str) -> str:
    """The words for an ACL bootstrap's outcome (`bootstrapped`, `already`, `skipped`, as
    `--json` says it): "ACLs already bootstrapped", never the cut "ACLs already"."""
    return "ACLs " + {"already": "already bootstrapped", "skipped": "not bootstrapped"}.get(
        status, status
    )


def aws_not_set_up(message: str) -> bool:
    """Is this AWS error the one of a machine with no AWS set up (no region, no credentials)?"""
    return message.startswith(("no AWS region", "no AWS credentials found"))


def at(kind: str, region: str | None) -> str:
    """Where `down`'s tables say the resources are."""
    if kind == AWS:
        return f"in {region}"
    return "on this machine" if kind == LOCAL else "on hosts you already have"


def nothing(done: Destroyed, cluster: str) -> str:
    """The line of a `down` that finds nothing."""
    if done.kind == AWS:
        return f"Nothing to delete: no resources tagged for {cluster!r} in {done.region}."
    if done.kind == LOCAL:
        return f"Nothing to delete: cluster {cluster!r} runs nothing here."
    return f"Nothing to remove: cluster {cluster!r} has no hosts recorded."


def notes(done: Destroyed, cluster: str) -> list[str]:
    """What `down` says on stderr after the run."""
    if done.moved_aside:
        return [f"note: the unreadable state was moved to {done.moved_aside}"]
    if done.kind != STATIC or not done.summary:  # a dry run or nothing recorded: no notes
        return []
    out = []
    skipped = done.with_status("skipped")
    if skipped:
        out.append(
            f"skipped {len(skipped)} host(s) that did not answer within {done.wait:.0f}s and "
            f"removed them from cluster {cluster!r}: "
            + ", ".join(f"{r.name} ({r.id})" for r in skipped)
            + "; if one comes back, nomadctl's files are still on it"
        )
    if not done.errors:
        cleaned = len(done.with_status("cleaned"))
        out.append(f"Nomad stopped and removed from {cleaned} host(s); the machines are yours")
    return out


def error(done: Destroyed) -> NomadctlError | None:
    """What `down` exits with when something is left."""
    if done.kind == AWS and done.failed:
        first = done.failed[0]
        return CloudError(
            f"could not delete {len(done.failed)} resource(s), e.g. {first.kind} {first.id}: "
            f"{first.detail}; fix that and re-run `nomadctl down`"
        )
    if done.kind == STATIC and done.errors:
        hint = (
            ", or `nomadctl down --force` to skip hosts that are gone for good"
            if done.unreachable and not done.force
            else ""
        )
        return RemoteError(
            "could not clean " + "; ".join(done.errors) + f"; re-run `nomadctl down`{hint}"
        )
    if done.left:
        problems = done.errors or [f"{r.name}: {r.detail}" for r in done.failed]
        return RemoteError(
            f"could not delete everything: {problems[0]}; fix that and re-run `nomadctl down`"
        )
    return None


def forgotten(done: Forgotten) -> str:
    """The outcome line of `down`'s forget step."""
    if done.outcome == "hosts":
        return f"{done.hosts} host(s) forgotten" + (f", {done.kept} kept" if done.kept else "")
    return {
        "forgotten": "hosts and tokens forgotten",
        "moved aside": f"unreadable state moved to {done.aside}",
        "unreadable": "unreadable state kept",
        "kept": "kept (something is left)",
        "nothing": "nothing to forget",
        "no workspace": "no workspace",
    }[done.outcome]


def resources_label(kind: str) -> str:
    """The name over `up`'s table of the provider's own resources ("" shows none)."""
    return "AWS" if kind == AWS else ""


def jobs(reach: Reach) -> str:
    """Which task drivers the clients offer and which sample jobs they run."""
    available = reach.drivers or ()
    if not available:
        return "no task driver (no Docker daemon, not root): no sample job will run"
    runs = ", ".join(reach.sample_jobs) if reach.sample_jobs else "none of examples/jobs"
    return f"clients' drivers: {', '.join(available)}; sample jobs that run: {runs}"


def summary_lines(cluster: str, first: Host, reach: Reach) -> list[str]:
    """The ways in that follow API/Connect/Status in `up`'s summary; `first` is the first
    server."""
    lines = []
    if reach.ssh:
        lines.append(f"SSH:      nomadctl --cluster {cluster} ssh {first.name}")
    if reach.logs:
        lines.append(f"Logs:     nomadctl --cluster {cluster} logs {first.name}")
    if reach.drivers is not None:
        lines.append(f"Jobs:     {jobs(reach)}")
    if not reach.ssh:  # agents on this machine: stopping them is the way out
        lines.append(f"Stop:     nomadctl --cluster {cluster} down --yes")
    return lines
