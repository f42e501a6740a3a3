"""Raft snapshots (save and restore) and Nomad variables, as Nomad serves them.

Modelled on hashicorp/nomad v1.10.5 and hashicorp/raft:

- The archive (helper/snapshot/archive.go `write`/`read`, snapshot.go `writeSnapshot`,
  `CopySnapshot`, `Restore`): a gzip'd tar of `meta.json` (the JSON of raft.SnapshotMeta:
  Version, ID `term-index-msec` as raft's file_snapshot.go `snapshotName`, Index, Term, Peers,
  Configuration, ConfigurationIndex, Size), `state.bin` (the FSM's data; here the stand-in's
  own encoding of its state, JSON, which nothing outside the stand-in reads) and `SHA256SUMS`
  (`%x  %s` lines for the other two). A tar member of another name is "unexpected file %q in
  snapshot"; a hash that differs, "hash check failed for %q"; uncompressed bytes after the
  tar, "%d unread uncompressed bytes remain".
- The HTTP side (command/agent/operator_endpoint.go SnapshotRequest): GET saves, PUT/POST
  restores, on the leader (nomad/operator_endpoint.go forwards both to it); both need a
  management token (`aclObj.IsManagement()`, else 403 Permission denied). A save answers with
  the `Digest: sha-256=<base64>` header of the gzip'd bytes (snapshot.go's checksum, which
  api/operator.go `Snapshot` checks). A failed restore is a 500 "failed to restore from
  snapshot: <why>".
- Restore (raft.go `restoreUserSnapshot`): the FSM takes the snapshot's data whole; the raft
  configuration stays the cluster's own (the snapshot's is ignored), the term is the current
  one and the index becomes max(last index, snapshot index) + 1.

The state lives in `<data_dir>/server/state.json` (server.py), so a lost data dir loses it.

Variables (command/agent/variable_endpoint.go): GET /v1/vars lists metadata, GET/PUT/DELETE
/v1/var/<path> reads, writes and deletes one (namespace `default` unless ?namespace=);
writes need `variables` write rights, which the stand-in grants to management tokens only.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import time
import zlib
from typing import TYPE_CHECKING, Any

from .common import ApiError
from .state import ClusterState
from .transport import Response, ok

if TYPE_CHECKING:
    from .api import Api, Call

# What a snapshot carries of the state: the FSM's tables, not raft's own configuration.
FSM_FIELDS = ("acl_bootstrap_index", "tokens", "policies", "nodes", "jobs", "allocs", "variables")
VAR_PATH_RE = re.compile(r"^[a-zA-Z0-9-_~/]{1,128}$")  # structs.validVariablePath


def _parse_cas(value: str | None) -> int | None:
    """command/agent/variable_endpoint.go parseCAS: `?cas=` as strconv.ParseUint, else 400."""
    if value is None or value == "":
        return None
    why = "invalid syntax" if not (value.isascii() and value.isdigit()) else None
    if why is None and int(value) >= 1 << 64:
        why = "value out of range"
    if why:
        raise ApiError(400, f'can not parse cas: strconv.ParseUint: parsing "{value}": {why}')
    return int(value)


def _cas_conflict(old: dict[str, Any] | None, cas: int) -> bool:
    """nomad/state/state_store_variables.go varSetCASTxn / svDeleteCASTxn (the same rule for
    both): cas=0 means "only if absent" (a stored value conflicts; a set creates, a delete of
    nothing succeeds); any other index must be the stored ModifyIndex, and a missing variable
    conflicts."""
    if old is None:
        return cas != 0
    return cas == 0 or old["ModifyIndex"] != cas


def _zero(ns: str, path: str, old: dict[str, Any] | None) -> dict[str, Any]:
    """The conflicting value: the stored one, or the zero value the CAS txns make up."""
    zero = {"CreateIndex": 0, "CreateTime": 0, "ModifyIndex": 0, "ModifyTime": 0, "Items": None}
    return old or {"Namespace": ns, "Path": path, **zero}


def _conflict(var: dict[str, Any]) -> Response:
    """A CAS conflict: 409 with the conflicting variable (Variables.Apply decrypts it for a caller
    that may read it; a missing one is a zero value holding only Namespace and Path) and its
    ModifyIndex as X-Nomad-Index (variableUpsert / variableDelete)."""
    index = str(var.get("ModifyIndex", 0))
    return Response(409, json.dumps(var).encode(), "application/json", {"X-Nomad-Index": index})


def _route(methods: str, pattern: str, handler: str, where: str) -> tuple:
    return set(methods.split("|")), re.compile(f"^{pattern}$"), handler, where


ROUTES = [
    _route("GET|PUT|POST", "/v1/operator/snapshot", "snap_snapshot", "leader"),
    _route("GET", "/v1/vars", "snap_vars", "leader"),
    _route("GET|PUT|POST|DELETE", "/v1/var/(?P<path>.+)", "snap_var", "leader"),
]


# ------------------------------------------------------------------------------ archive


def write_archive(meta: dict[str, Any], state: bytes, now: float) -> bytes:
    """archive.go `write` under snapshot.go's gzip: meta.json, state.bin, SHA256SUMS."""
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode() + b"\n"  # json.Encoder
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n"
        for name, data in (("meta.json", meta_bytes), ("state.bin", state))
    ).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("meta.json", meta_bytes), ("state.bin", state), ("SHA256SUMS", sums)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(now)
            tar.addfile(info, io.BytesIO(data))
    # Go's tar.Writer ends with two zero blocks and no padding to a 10 KiB record (Python's
    # does pad): tar.offset is the end of those two blocks.
    return gzip.compress(raw.getvalue()[: tar.offset], mtime=0)


def read_archive(blob: bytes) -> tuple[dict[str, Any], bytes]:
    """snapshot.go `CopySnapshot`/`Restore` and archive.go `read`: (meta, state.bin) or
    ValueError with Nomad's words."""
    try:
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one gzip member, as Go reads it
        raw = decomp.decompress(blob)
        if not decomp.eof:
            raise ValueError("failed to read snapshot file: unexpected EOF")
    except zlib.error as exc:
        raise ValueError(f"failed to decompress snapshot: {exc}") from None
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if member.name not in ("meta.json", "state.bin", "SHA256SUMS"):
                    raise ValueError(
                        f"failed to read snapshot file: unexpected file {member.name!r} in snapshot"
                    )
                fh = tar.extractfile(member)
                files[member.name] = fh.read() if fh else b""
            end = tar.offset
    except tarfile.TarError as exc:
        raise ValueError(f"failed to read snapshot file: failed reading snapshot: {exc}") from None
    _end_of_archive(raw[end:])
    _verify(files)
    try:
        meta = json.loads(files["meta.json"])
    except ValueError as exc:
        raise ValueError(f"failed to decode snapshot metadata: {exc}") from None
    return meta, files["state.bin"]


def _end_of_archive(tail: bytes) -> None:
    """Go's tar.Reader reads exactly two zero blocks at the end (archive/tar reader.go
    readHeader); snapshot.go concludeGzipRead then refuses any byte left."""
    if len(tail) < 1024:
        raise ValueError("failed to read snapshot file: failed reading snapshot: unexpected EOF")
    if tail[:1024].strip(b"\0"):
        raise ValueError(
            "failed to read snapshot file: failed reading snapshot: archive/tar: invalid tar header"
        )
    if len(tail) > 1024:
        raise ValueError(f"{len(tail) - 1024} unread uncompressed bytes remain")


def _verify(files: dict[str, bytes]) -> None:
    """archive.go hashList.DecodeAndVerify: every hash listed, matching, every file seen."""
    prefix = "failed to read snapshot file: failed checking integrity of snapshot: "
    seen = set()
    for line in files.get("SHA256SUMS", b"").decode(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if name not in ("meta.json", "state.bin"):
            raise ValueError(f"{prefix}list missing hash for {name!r}")
        if digest != hashlib.sha256(files.get(name, b"")).hexdigest():
            raise ValueError(f"{prefix}hash check failed for {name!r}")
        seen.add(name)
    for name in ("meta.json", "state.bin"):
        if name not in seen:
            raise ValueError(f"{prefix}file missing for {name!r}")


# ------------------------------------------------------------------------------ handlers


class Snapshots:
    """The snapshot and variable endpoints; `api.handle` dispatches `snap_*` routes here."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def snap_snapshot(self, call: Call, m: re.Match[str]) -> Response:
        self.api.need(call, "management")
        if call.method == "GET":
            return self._save()
        return self._restore(call.body)

    def _save(self) -> Response:
        srv = self.api._srv()
        with srv.lock:
            st = srv.state
            state = json.dumps({k: getattr(st, k) for k in FSM_FIELDS}).encode()
            now = time.time()
            servers = [
                {"Suffrage": 0, "ID": k, "Address": v["rpc"]} for k, v in sorted(st.voters.items())
            ]
            meta = {
                "Version": 1,
                "ID": f"{st.term}-{st.index}-{int(now * 1000)}",
                "Index": st.index,
                "Term": st.term,
                "Peers": None,
                "Configuration": {"Servers": servers},
                "ConfigurationIndex": st.index,
                "Size": len(state),
            }
        blob = write_archive(meta, state, now)
        digest = "sha-256=" + base64.b64encode(hashlib.sha256(blob).digest()).decode()
        return Response(200, blob, "application/octet-stream", {"Digest": digest})

    def _restore(self, body: bytes) -> Response:
        srv = self.api._srv()
        try:
            meta, state = read_archive(body)
            data = json.loads(state)
            if len(state) != meta.get("Size"):
                raise ValueError(
                    "Raft error when restoring snapshot: failed to write snapshot, size didn't "
                    f"match ({len(state)} != {meta.get('Size')})"
                )
        except ValueError as exc:
            raise ApiError(500, f"failed to restore from snapshot: {exc}") from None

        def fn(st: ClusterState, idx: int) -> None:
            for k in FSM_FIELDS:
                setattr(st, k, data.get(k, getattr(ClusterState(), k)))

        with srv.lock:  # raft: max(last index, snapshot index) + 1, then apply's own +1
            srv.state.index = max(srv.state.index, int(meta.get("Index") or 0))
        srv.apply(fn)
        srv.log("INFO", f"nomad.raft: restored user snapshot: index={meta.get('Index')}")
        return ok(None)

    # -- variables
    def snap_vars(self, call: Call, m: re.Match[str]) -> Response:
        ns = call.query.get("namespace") or "default"
        self.api.need_ns(call, ns, "list-jobs")
        prefix = call.query.get("prefix") or ""
        st = self.api._srv().state
        out = [
            {k: v for k, v in var.items() if k != "Items"}
            for key, var in sorted(st.variables.items())
            if key.startswith(f"{ns}/{prefix}")
        ]
        return ok(out)

    def snap_var(self, call: Call, m: re.Match[str]) -> Response:
        path = m["path"]
        if not VAR_PATH_RE.fullmatch(path):
            raise ApiError(400, "invalid path")
        ns = call.query.get("namespace") or "default"
        key, srv = f"{ns}/{path}", self.api._srv()
        if call.method == "GET":
            self.api.need_ns(call, ns, "read-job")
            var = srv.state.variables.get(key)
            if var is None:
                raise ApiError(404, "variable not found")
            return ok(var)
        self.api.need(call, "management")
        cas = _parse_cas(call.query.get("cas"))
        if call.method == "DELETE":

            def delete(st: ClusterState, idx: int) -> dict[str, Any] | None:
                old = st.variables.get(key)
                if cas is not None and _cas_conflict(old, cas):
                    return _zero(ns, path, old)
                st.variables.pop(key, None)
                return None

            conflict = srv.apply(delete)
            # variableDelete: 409 with the conflicting value, else 204 No Content.
            return Response(204, b"") if conflict is None else _conflict(conflict)
        body = call.json() or {}
        items = body.get("Items")
        if not isinstance(items, dict) or not items:
            raise ApiError(400, "variable missing required Items object")  # variableUpsert
        if not all(isinstance(v, str) for v in items.values()):
            raise ApiError(400, "json: cannot unmarshal into Go value of type string")

        def put(st: ClusterState, idx: int) -> tuple[bool, dict[str, Any]]:
            old = st.variables.get(key)
            if cas is not None and _cas_conflict(old, cas):
                return False, _zero(ns, path, old)
            old = old or {"CreateIndex": idx, "CreateTime": time.time_ns()}
            var = {
                "Namespace": ns,
                "Path": path,
                "Items": dict(items),
                "CreateIndex": old["CreateIndex"],
                "CreateTime": old["CreateTime"],
                "ModifyIndex": idx,
                "ModifyTime": time.time_ns(),
            }
            st.variables[key] = var
            return True, var

        done, var = srv.apply(put)
        return ok(var) if done else _conflict(var)
