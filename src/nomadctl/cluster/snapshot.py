"""Raft snapshots through the Nomad API, and the check of a snapshot file.

A Nomad snapshot (hashicorp/nomad helper/snapshot, v1.10.5) is a gzip'd tar of `meta.json`
(raft.SnapshotMeta: Version, ID `term-index-msec`, Index, Term, Configuration, Size),
`state.bin` and `SHA256SUMS`; `check` reads it as Nomad's `CopySnapshot` does (any other member
is refused, every hash must match, nothing may follow the tar) and returns the metadata, as
`nomad operator snapshot inspect` shows it.

`GET /v1/operator/snapshot` saves one (management token; command/agent/operator_endpoint.go
answers with `Digest: sha-256=<base64 of the gzip'd bytes>`, which api/operator.go checks and
so does `save`), `PUT /v1/operator/snapshot` restores one.

nomadctl labels the snapshots it saves: a JSON comment in the gzip header (RFC 1952 FCOMMENT)
naming the cluster and the workspace's cluster ID. The tar inside is untouched, so the file
stays a snapshot Nomad restores (Go's gzip reader keeps a header comment apart), and a restore
can tell a snapshot of another cluster before it replaces anything.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from nomadctl.cluster.api import Api, ApiTarget
from nomadctl.errors import ClusterApiError, UsageError

MEMBERS = ("meta.json", "state.bin", "SHA256SUMS")
LABEL_KEY = "nomadctl"
FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT = 1, 2, 4, 8, 16


class SnapshotFileError(UsageError):
    """A file that is not an intact Nomad snapshot (truncated, foreign, tampered)."""


@dataclass
class SnapshotInfo:
    """What a snapshot file holds, as `nomad operator snapshot inspect` shows it."""

    id: str
    index: int
    term: int
    version: int
    size: int  # state.bin's bytes (meta.Size)
    file_size: int
    created: str | None  # from the ID's milliseconds, UTC RFC 3339
    servers: list[str] = field(default_factory=list)  # raft configuration's addresses
    label: dict[str, Any] | None = None  # nomadctl's gzip comment, if any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the archive ------------------------------------------------------------------------


def _header_end(blob: bytes) -> tuple[int, int, int | None]:
    """(flags, end of the gzip header, (start, end) of its comment or None); ValueError."""
    if len(blob) < 10 or blob[:2] != b"\x1f\x8b" or blob[2] != 8:
        raise ValueError("not gzip data")
    flags, pos = blob[3], 10
    if flags & FEXTRA:
        pos += 2 + int.from_bytes(blob[pos : pos + 2], "little")
    if flags & FNAME:
        pos = blob.index(b"\0", pos) + 1
    comment = None
    if flags & FCOMMENT:
        end = blob.index(b"\0", pos)
        comment, pos = (pos, end), end + 1
    if flags & FHCRC:
        pos += 2
    if pos > len(blob):
        raise ValueError("truncated gzip header")
    return flags, pos, comment  # type: ignore[return-value]


def label_of(blob: bytes) -> dict[str, Any] | None:
    """nomadctl's label in the gzip header, None when there is none (or not ours)."""
    try:
        _, _, comment = _header_end(blob)
        if comment is None:
            return None
        data = json.loads(blob[comment[0] : comment[1]].decode("latin-1"))
    except ValueError:
        return None
    label = data.get(LABEL_KEY) if isinstance(data, dict) else None
    return label if isinstance(label, dict) else None


def with_label(blob: bytes, label: dict[str, Any]) -> bytes:
    """`blob` with nomadctl's label as its gzip comment (replacing any); the compressed data
    and trailer are unchanged. A header with a CRC (FHCRC) is left as it is."""
    flags, end, comment = _header_end(blob)
    if flags & FHCRC:
        return blob
    text = json.dumps({LABEL_KEY: label}, sort_keys=True, separators=(",", ":"))
    new_comment = text.encode("latin-1") + b"\0"
    if comment is None:  # FCOMMENT follows FEXTRA and FNAME: it goes at the header's end
        head = blob[:3] + bytes([flags | FCOMMENT]) + blob[4:end]
        return head + new_comment + blob[end:]
    return blob[: comment[0]] + new_comment + blob[comment[1] + 1 :]


def check(blob: bytes) -> SnapshotInfo:
    """The snapshot's metadata, once its archive is read whole and every checksum matches
    (helper/snapshot CopySnapshot + archive.go read); SnapshotFileError otherwise."""
    try:
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        raw = decomp.decompress(blob)
        if not decomp.eof:
            raise SnapshotFileError("the file is truncated (the gzip stream ends early)")
    except zlib.error as exc:
        raise SnapshotFileError(f"not a Nomad snapshot (not gzip data: {exc})") from None
    files = _members(raw)
    _check_sums(files)
    try:
        meta = json.loads(files["meta.json"])
        index, term = int(meta["Index"]), int(meta["Term"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotFileError(f"meta.json is not raft snapshot metadata ({exc})") from None
    if len(files["state.bin"]) != meta.get("Size"):
        raise SnapshotFileError(
            f"state.bin holds {len(files['state.bin'])} bytes, meta.json says {meta.get('Size')}"
        )
    servers = ((meta.get("Configuration") or {}).get("Servers")) or []
    return SnapshotInfo(
        id=str(meta.get("ID") or ""),
        index=index,
        term=term,
        version=int(meta.get("Version") or 0),
        size=len(files["state.bin"]),
        file_size=len(blob),
        created=_created(str(meta.get("ID") or "")),
        servers=[str(s.get("Address")) for s in servers if isinstance(s, dict)],
        label=label_of(blob),
    )


def _members(raw: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if member.name not in MEMBERS:
                    raise SnapshotFileError(
                        f"not a Nomad snapshot: unexpected file {member.name!r} in the archive"
                    )
                fh = tar.extractfile(member)
                files[member.name] = fh.read() if fh else b""
            end = tar.offset
    except tarfile.TarError as exc:
        raise SnapshotFileError(f"not a Nomad snapshot (no tar archive inside: {exc})") from None
    tail = raw[end:]  # Nomad (Go's tar.Reader) reads exactly two zero blocks, then nothing
    if len(tail) < 1024 or tail[:1024].strip(b"\0"):
        raise SnapshotFileError("not a Nomad snapshot: the tar archive does not end properly")
    if len(tail) > 1024:
        raise SnapshotFileError(f"{len(tail) - 1024} unread bytes follow the archive")
    missing = [m for m in MEMBERS if m not in files]
    if missing:
        raise SnapshotFileError(f"not a Nomad snapshot: {', '.join(missing)} missing")
    return files


def _check_sums(files: dict[str, bytes]) -> None:
    seen = set()
    for line in files["SHA256SUMS"].decode(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if name not in ("meta.json", "state.bin"):
            raise SnapshotFileError(f"SHA256SUMS lists {name!r}, which a snapshot never holds")
        if digest != hashlib.sha256(files[name]).hexdigest():
            raise SnapshotFileError(f"checksum mismatch for {name}: the file was altered")
        seen.add(name)
    for name in ("meta.json", "state.bin"):
        if name not in seen:
            raise SnapshotFileError(f"SHA256SUMS has no checksum for {name}")


def _created(snapshot_id: str) -> str | None:
    """raft's snapshot name is `term-index-msec`; Nomad's inspect shows that time."""
    parts = snapshot_id.split("-")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    when = datetime.fromtimestamp(int(parts[2]) / 1000, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the API ----------------------------------------------------------------------------


def save(target: ApiTarget) -> tuple[bytes, SnapshotInfo]:
    """Take a snapshot on the leader; its bytes checked against the Digest and as an archive."""

    def get(c: Any) -> tuple[bytes, str]:
        resp = c.operator.request("snapshot", method="get", timeout=max(target.timeout, 60.0))
        return resp.content, resp.headers.get("Digest", "")

    blob, digest = Api(target).call(get, "saving a snapshot")
    if digest:
        algo, _, value = digest.partition("=")
        mine = base64.b64encode(hashlib.sha256(blob).digest()).decode()
        if algo.lower() != "sha-256" or value != mine:
            raise ClusterApiError(
                "saving a snapshot: the bytes received do not match the server's Digest "
                "(the transfer was cut or altered); nothing was written"
            )
    try:
        return blob, check(blob)
    except SnapshotFileError as exc:
        raise ClusterApiError(f"saving a snapshot: the server sent {exc.message}") from None


def restore(target: ApiTarget, blob: bytes) -> None:
    """Restore `blob` on the leader (PUT /v1/operator/snapshot)."""

    def put(c: Any) -> None:
        c.operator.request("snapshot", method="put", data=blob, timeout=max(target.timeout, 60.0))

    Api(target).call(put, "restoring the snapshot")


def current_index(target: ApiTarget) -> int | None:
    """The raft index of the server that answers (/v1/agent/self stats.raft.last_log_index)."""

    def get(c: Any) -> int | None:
        raft = (c.agent.get_agent().get("stats") or {}).get("raft") or {}
        value = raft.get("last_log_index")
        return int(value) if str(value or "").isdigit() else None

    return Api(target).call(get, "reading the cluster's raft index")
