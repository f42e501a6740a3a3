"""The workspace's snapshots: `snapshots/<cluster>-<UTC time>[-auto].snap`, mode 0600.

Automatic snapshots (taken before a risky change, and by `down`) end in `-auto` and are pruned
to the newest `keep`; snapshots taken by hand are never pruned. Every file is written to a
temporary name beside it and renamed, so a full disk or a cut transfer leaves nothing half
written. Each is labelled (cluster/snapshot.py) with the cluster's name and the workspace's
cluster ID (state.json `cluster_id`, made once), so a restore can refuse another cluster's.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nomadctl.cluster import snapshot
from nomadctl.cluster.api import ApiTarget
from nomadctl.errors import WorkspaceError
from nomadctl.workspace import SECRET_MODE, Workspace, ensure_private_dir

SUFFIX = ".snap"
AUTO = "-auto"
DEFAULT_KEEP = 10


@dataclass
class Saved:
    path: Path
    info: snapshot.SnapshotInfo
    automatic: bool
    pruned: list[Path]
    copied: str | None = None  # the off-machine copy (s3://...), if one was made

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "automatic": self.automatic,
            "copied": self.copied,
            "pruned": [str(p) for p in self.pruned],
            **self.info.to_dict(),
        }


@dataclass
class Entry:
    """One file in the workspace's snapshots/ (`error` when it does not read as a snapshot)."""

    name: str
    path: str
    saved: str | None
    file_size: int
    index: int | None
    term: int | None
    automatic: bool
    reason: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def directory(ws: Workspace) -> Path:
    return ws.path / "snapshots"


def cluster_id(ws: Workspace) -> str:
    """The workspace's cluster ID (state.json), made on first use; kept across `down`."""
    state = ws.load_state()
    value = state.get("cluster_id")
    if isinstance(value, str) and value:
        return value
    value = str(uuid.uuid4())
    ws.update_state(cluster_id=value)
    return value


def default_path(ws: Workspace, automatic: bool, now: datetime | None = None) -> Path:
    now = now or datetime.now(UTC)
    base = f"{ws.cluster}-{now.strftime('%Y%m%dT%H%M%SZ')}{AUTO if automatic else ''}"
    path, n = directory(ws) / f"{base}{SUFFIX}", 1
    while path.exists():
        n += 1
        path = directory(ws) / f"{base}-{n}{SUFFIX}"
    return path


def write_file(path: Path, data: bytes) -> None:
    """`data` to `path`, 0600, atomically: a temporary file beside it, renamed when whole."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WorkspaceError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, SECRET_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise WorkspaceError(f"cannot write {path}: {exc.strerror}; nothing was written") from None


def take(
    ws: Workspace,
    target: ApiTarget,
    *,
    automatic: bool,
    reason: str = "",
    path: Path | None = None,
    keep: int = DEFAULT_KEEP,
) -> Saved:
    """Save a snapshot of the workspace's cluster to `path` (default: the workspace's
    snapshots/), labelled; then prune automatic ones to `keep` when this one is automatic."""
    ident = cluster_id(ws)
    blob, info = snapshot.save(target)
    label = {
        "cluster": ws.cluster,
        "cluster_id": ident,
        "automatic": automatic,
        "reason": reason,
        "saved": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    blob = snapshot.with_label(blob, label)
    info.label, info.file_size = snapshot.label_of(blob), len(blob)
    if path is None:
        ensure_private_dir(directory(ws), tighten=True)
        path = default_path(ws, automatic)
    elif not path.parent.is_dir():
        raise WorkspaceError(f"cannot write {path}: no directory {path.parent}")
    write_file(path, blob)
    pruned = prune(ws, keep) if automatic else []
    return Saved(path, info, automatic, pruned)


def entries(ws: Workspace) -> list[Entry]:
    """The workspace's snapshots, oldest first."""
    folder = directory(ws)
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        automatic = path.stem.endswith(AUTO) or AUTO + "-" in path.stem
        try:
            blob = path.read_bytes()
            info = snapshot.check(blob)
        except (OSError, snapshot.SnapshotFileError) as exc:
            why = getattr(exc, "message", None) or getattr(exc, "strerror", None) or str(exc)
            found.append(Entry(path.name, str(path), None, 0, None, None, automatic, None, why))
            continue
        label = info.label or {}
        found.append(
            Entry(
                path.name,
                str(path),
                label.get("saved") or info.created,
                len(blob),
                info.index,
                info.term,
                bool(label.get("automatic", automatic)),
                label.get("reason") or None,
            )
        )
    found.sort(key=lambda e: (e.saved or "", e.name))
    return found


def prune(ws: Workspace, keep: int) -> list[Path]:
    """Remove automatic snapshots beyond the newest `keep`; by-hand ones always stay."""
    autos = [e for e in entries(ws) if e.automatic]
    gone = autos[: max(len(autos) - max(keep, 0), 0)]
    removed = []
    for entry in gone:
        with contextlib.suppress(FileNotFoundError):
            Path(entry.path).unlink()
        removed.append(Path(entry.path))
    return removed


def other_cluster(ws: Workspace, info: snapshot.SnapshotInfo) -> str | None:
    """Why `info` is a snapshot of another cluster than the workspace's, or None (also when
    the file carries no nomadctl label: a `nomad operator snapshot save` file)."""
    label = info.label
    if not label:
        return None
    ident = (ws.load_state() or {}).get("cluster_id")
    if label.get("cluster_id") and ident and label["cluster_id"] == ident:
        return None
    name = label.get("cluster") or "?"
    if name != ws.cluster:
        return f"it is a snapshot of cluster {name!r}, not of {ws.cluster!r}"
    return (
        f"it is a snapshot of another cluster named {name!r} (cluster ID "
        f"{label.get('cluster_id')}, this workspace's is {ident or 'not set'})"
    )
