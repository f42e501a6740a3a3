"""`nomadctl snapshot save|list|inspect|restore`: raft snapshots of the workspace's cluster.

The work is in `nomadctl.cluster.snapshot` (the API and the archive check) and
`nomadctl.cluster.snapshot_store` (the workspace's snapshots/); these commands parse, call and
render.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from nomadctl.cli.context import AppContext
from nomadctl.cli.options import AwsProfile, AwsRegion, JsonOutput, Yes
from nomadctl.errors import UsageError

Timeout = Annotated[float, typer.Option(min=0.5, help="Timeout of each API call, seconds.")]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _checked(path: Path):
    from nomadctl.cluster import snapshot

    try:
        return snapshot.check(_read(path))
    except snapshot.SnapshotFileError as exc:
        raise snapshot.SnapshotFileError(f"{path}: {exc.message}") from None


def _target(ws, timeout: float):
    from nomadctl.cluster.acl import token_path
    from nomadctl.cluster.api import PermissionDenied
    from nomadctl.cluster.target import workspace_target

    ws.require_cluster("snapshot")
    target = workspace_target(ws, timeout=timeout)
    if target.token is None:
        raise PermissionDenied(
            f"snapshots need the cluster's management token and {token_path(ws, 'management')} "
            "does not exist; run `nomadctl acl-bootstrap` first"
        )
    return target


def save(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help="Where to write it; default: the workspace's snapshots/."),
    ] = None,
    snapshot_to: Annotated[
        str,
        typer.Option(
            metavar="s3://BUCKET/PREFIX",
            help="Also copy it to S3, encrypted with KMS (aws:kms).",
        ),
    ] = "",
    region: AwsRegion = None,
    profile: AwsProfile = None,
    json_output: JsonOutput = False,
    timeout: Timeout = 10.0,
) -> None:
    """Save a raft snapshot of the cluster (jobs, variables, ACL policies and tokens).

    Written atomically with mode 0600: it holds every ACL token's secret. Taken by hand, it
    is never pruned.
    """
    from nomadctl.cluster import snapshot_store
    from nomadctl.plan.snapshots import s3_copier

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace()
    if path is not None and path.is_dir():
        raise UsageError(f"{path} is a directory; name the file to write")
    copy = s3_copier(snapshot_to, region, profile)  # a bad URL stops here
    with ws.locked():
        saved = snapshot_store.take(ws, _target(ws, timeout), automatic=False, path=path)
    if copy is not None:
        saved.copied = copy(saved.path)
    if json_output:
        app_ctx.ui.json(saved.to_dict())
        return
    info = saved.info
    app_ctx.ui.out.print(
        f"Snapshot saved to {saved.path} (index {info.index}, term {info.term}, "
        f"{info.file_size} bytes)" + (f"; copied to {saved.copied}" if saved.copied else ""),
        markup=False,
    )


def list_(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """List the workspace's snapshots: when, size, raft index, automatic or by hand."""
    from nomadctl.cluster import snapshot_store

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace("snapshot list")
    found = snapshot_store.entries(ws)
    if json_output:
        app_ctx.ui.json([e.to_dict() for e in found])
        return
    rows = [
        (
            e.name,
            e.saved or "-",
            str(e.file_size),
            str(e.index) if e.index is not None else "-",
            "automatic" if e.automatic else "by hand",
            e.error or e.reason or "",
        )
        for e in found
    ]
    app_ctx.ui.table(None, ["File", "Saved (UTC)", "Bytes", "Index", "Kind", "Note"], rows)


def inspect(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The snapshot file.")],
    json_output: JsonOutput = False,
) -> None:
    """Check a snapshot file (archive intact, checksums match) and show its index and term,
    as `nomad operator snapshot inspect` does."""
    app_ctx: AppContext = ctx.obj
    info = _checked(path)
    if json_output:
        app_ctx.ui.json({"path": str(path), "intact": True, **info.to_dict()})
        return
    label = info.label or {}
    rows = [
        ("Created", info.created or "-"),
        ("ID", info.id),
        ("Size", str(info.size)),
        ("Index", str(info.index)),
        ("Term", str(info.term)),
        ("Version", str(info.version)),
        ("Checksums", "match"),
        ("Cluster", label.get("cluster") or "(not saved by nomadctl)"),
        ("Kind", ("automatic" if label.get("automatic") else "by hand") if label else "-"),
    ]
    app_ctx.ui.table(None, ["Field", "Value"], rows)


def restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The snapshot file to restore.")],
    yes: Yes = False,
    json_output: JsonOutput = False,
    timeout: Timeout = 10.0,
) -> None:
    """Replace the cluster's state (jobs, variables, ACL policies, tokens) with a snapshot's.

    The file is checked first; a snapshot of another cluster is refused. Asks first, showing
    the cluster's raft index against the snapshot's; --yes skips the question, and without a
    terminal --yes is required.
    """
    from rich.markup import escape

    from nomadctl.cluster import snapshot, snapshot_store

    app_ctx: AppContext = ctx.obj
    ws = app_ctx.cluster_workspace()
    blob = _read(path)
    try:
        info = snapshot.check(blob)
    except snapshot.SnapshotFileError as exc:
        raise snapshot.SnapshotFileError(f"{path}: {exc.message}; nothing was restored") from None
    ws.require_cluster("snapshot restore")
    other = snapshot_store.other_cluster(ws, info)
    if other:
        raise snapshot.SnapshotFileError(f"{path}: {other}; nothing was restored")
    with ws.locked():
        target = _target(ws, timeout)
        current = snapshot.current_index(target)
        question = (
            f"Replace the state of cluster {ws.cluster!r} (raft index {current}) with {path} "
            f"(index {info.index}, term {info.term}, saved {info.created or 'at an unknown time'})"
            "? Every job, variable, ACL policy and token is replaced."
        )
        if yes:
            app_ctx.ui.info(escape(question.replace("? Every", " (--yes). Every", 1)))
        else:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"`snapshot restore` replaces the state of cluster {ws.cluster!r}: pass "
                    "--yes to confirm (stdin is not a terminal)"
                )
            from nomadctl.cli.options import _confirm

            _confirm(app_ctx.ui, question)
        snapshot.restore(target, blob)
    if json_output:
        app_ctx.ui.json(
            {"path": str(path), "restored": True, "previous_index": current, **info.to_dict()}
        )
        return
    app_ctx.ui.out.print(
        f"Restored {path} (index {info.index}) into cluster {ws.cluster!r} "
        f"(its raft index was {current})",
        markup=False,
    )
