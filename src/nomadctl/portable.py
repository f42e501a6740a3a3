"""A cluster's workspace as one encrypted file: `nomadctl workspace export` / `import`.

What goes in: everything nomadctl keeps for the cluster (the CA and every certificate and
key, the gossip key, the SSH key and known_hosts, the ACL tokens, state.json, saved
snapshots), not what belongs to this machine alone (`local/`, the agents' own directories,
and lock files).

The file: a header, then the payload sealed with AES-256-GCM under a key derived from the
passphrase with scrypt (RFC 7914); the header is the AEAD's associated data, so changing any
byte of the file (parameters included) fails the check. Header: MAGIC, a format version
byte, scrypt's log2(N), r and p (one byte each), a 16-byte salt and a 12-byte nonce. The
payload is a gzipped tar holding `manifest.json` ({format, cluster, exported_at, files}) and
the workspace's files under `files/`.

`import_file` checks everything before it writes anything: the header, the passphrase (a
wrong one, a changed or truncated file: one `WorkspaceError`, exit 3), then every member
of the archive (regular files and directories only, relative paths that stay inside).
It unpacks into a temporary directory in the same home (0700 dirs, 0600 files) and renames
it into place at the end, so a cluster is there whole or not at all; an existing cluster of
that name is never overwritten. `cryptography` is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nomadctl.errors import UsageError, WorkspaceError
from nomadctl.workspace import (
    DIR_MODE,
    SECRET_MODE,
    Workspace,
    ensure_private_dir,
    validate_cluster_name,
)

MAGIC = b"NOMADCTL-WORKSPACE\n"
FORMAT = 1
SALT_LEN, NONCE_LEN = 16, 12
HEADER_LEN = len(MAGIC) + 1 + 3 + SALT_LEN + NONCE_LEN
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1  # 32 MiB, well under a second
MAX_LOG2_N, MAX_R, MAX_P = 20, 16, 4  # what an import accepts from a header (memory bound)
MIN_PASSPHRASE = 8
SKIP_TOP = {"local", ".lock", "known_hosts.lock"}  # this machine's agents, and lock files
MAX_FILE = 1 << 30  # one member at most 1 GiB unpacked


@dataclass(frozen=True)
class Exported:
    path: Path
    cluster: str
    files: int
    size: int

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "cluster": self.cluster, "files": self.files,
                "bytes": self.size}  # fmt: skip


@dataclass(frozen=True)
class Imported:
    path: Path
    cluster: str
    files: int
    exported_at: str

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "cluster": self.cluster, "files": self.files,
                "exported_at": self.exported_at}  # fmt: skip


def check_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    return passphrase


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p)
    return kdf.derive(passphrase.encode())


def _files(ws: Workspace) -> list[Path]:
    """The workspace's files to carry, relative to its directory, in a stable order."""
    out = []
    for root, dirs, names in os.walk(ws.path):
        rel_root = Path(root).relative_to(ws.path)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in SKIP_TOP]
        dirs.sort()
        for name in sorted(names):
            rel = rel_root / name
            if str(rel) in SKIP_TOP or (name.startswith(".") and name.endswith(".tmp")):
                continue
            if not stat.S_ISREG(os.lstat(ws.path / rel).st_mode):
                continue  # sockets, links: nothing nomadctl writes
            out.append(rel)
    return out


def _payload(ws: Workspace, files: list[Path]) -> bytes:
    manifest = {
        "format": FORMAT,
        "cluster": ws.cluster,
        "source": str(ws.path),  # paths in state.json under it move with the workspace
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": len(files),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), SECRET_MODE, int(time.time())
            tar.addfile(info, io.BytesIO(data))

        add("manifest.json", json.dumps(manifest).encode())
        for rel in files:
            add(f"files/{rel.as_posix()}", ws.read_bytes(ws.path / rel))
    return buf.getvalue()


def _write_new(path: Path, data: bytes) -> None:
    """`data` to a new file `path` (0600), whole or not at all; never over an existing one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, SECRET_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # fails if `path` appeared meanwhile: nothing is overwritten
    except FileExistsError:
        raise UsageError(f"{path} already exists; choose another file") from None
    except OSError as exc:
        raise WorkspaceError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def export_file(ws: Workspace, path: Path, passphrase: str) -> Exported:
    """Seal the workspace into `path` (a new file, 0600)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    ws.require_cluster("workspace export")
    check_passphrase(passphrase)
    path = path.expanduser()
    if path.exists():
        raise UsageError(f"{path} already exists; choose another file")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory")
    files = _files(ws)
    salt, nonce = os.urandom(SALT_LEN), os.urandom(NONCE_LEN)
    header = MAGIC + bytes([FORMAT, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P]) + salt + nonce
    key = _key(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    sealed = AESGCM(key).encrypt(nonce, _payload(ws, files), header)
    _write_new(path, header + sealed)
    return Exported(path, ws.cluster, len(files), len(header) + len(sealed))


def _open(data: bytes, passphrase: str, where: Path) -> bytes:
    """The payload, or one WorkspaceError for a foreign, truncated or changed file."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not data.startswith(MAGIC):
        raise WorkspaceError(f"{where} is not a nomadctl workspace export; nothing was written")
    if len(data) < HEADER_LEN + 16:
        raise WorkspaceError(f"{where} is truncated; nothing was written")
    fmt, log2_n, r, p = data[len(MAGIC) : len(MAGIC) + 4]
    if fmt != FORMAT:
        raise WorkspaceError(
            f"{where} has export format {fmt}, this nomadctl reads {FORMAT}; nothing was written"
        )
    if not (1 <= log2_n <= MAX_LOG2_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
        raise WorkspaceError(f"{where} has been changed (bad key parameters); nothing was written")
    salt = data[len(MAGIC) + 4 : len(MAGIC) + 4 + SALT_LEN]
    nonce = data[HEADER_LEN - NONCE_LEN : HEADER_LEN]
    key = _key(passphrase, salt, log2_n, r, p)
    try:
        return AESGCM(key).decrypt(nonce, data[HEADER_LEN:], data[:HEADER_LEN])
    except InvalidTag:
        raise WorkspaceError(
            f"cannot open {where}: wrong passphrase, or the file was changed or truncated; "
            "nothing was written"
        ) from None


def _members(payload: bytes, where: Path) -> tuple[dict[str, object], dict[str, bytes]]:
    """The manifest and the files (relative path -> bytes), every member checked."""
    bad = f"{where} holds an archive nomadctl did not write; nothing was written"
    files: dict[str, bytes] = {}
    manifest: dict[str, object] | None = None
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
            for info in tar:
                name = PurePosixPath(info.name)
                if info.isdir():
                    continue
                if not info.isreg() or name.is_absolute() or ".." in name.parts:
                    raise WorkspaceError(f"{bad} (member {info.name!r})")
                if info.size > MAX_FILE:
                    raise WorkspaceError(f"{bad} (member {info.name!r} is too large)")
                fh = tar.extractfile(info)
                data = fh.read() if fh else b""
                if str(name) == "manifest.json":
                    manifest = json.loads(data)
                elif name.parts[0] == "files" and len(name.parts) > 1:
                    files[str(PurePosixPath(*name.parts[1:]))] = data
                else:
                    raise WorkspaceError(f"{bad} (member {info.name!r})")
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise WorkspaceError(f"{bad} ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise WorkspaceError(f"{bad} (no manifest)")
    return manifest, files


def _moved(value: object, old: str, new: str) -> object:
    """`value` (state.json's data) with every path under the old workspace moved to the new
    one: the SSH key's recorded path (hosts.record_ssh) is the workspace's own."""
    if isinstance(value, str) and (value == old or value.startswith(old + "/")):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {k: _moved(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    return value


def _relocate(files: dict[str, bytes], source: object, ws: Workspace) -> None:
    if not isinstance(source, str) or not source or "state.json" not in files:
        return
    try:
        state = json.loads(files["state.json"])
    except ValueError:
        return  # carried as it is: `status` says what is wrong with it
    moved = _moved(state, source.rstrip("/"), str(ws.path))
    files["state.json"] = json.dumps(moved, indent=2, sort_keys=True).encode() + b"\n"


def import_file(home: Path, path: Path, passphrase: str, cluster: str | None = None) -> Imported:
    """Restore an export under `home`; `cluster`: the name it must hold (--cluster given)."""
    path = path.expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    manifest, files = _members(_open(data, passphrase, path), path)
    name = str(manifest.get("cluster") or "")
    try:
        validate_cluster_name(name)
    except UsageError:
        raise WorkspaceError(f"{path} names no valid cluster; nothing was written") from None
    if cluster is not None and cluster != name:
        raise UsageError(f"{path} holds cluster {name!r}, not {cluster!r}; nothing was written")
    ws = Workspace(home, name)
    if ws.path.exists():
        raise WorkspaceError(
            f"cluster {name!r} already exists in {ws.home}; nothing was written (import under "
            "another --home, or remove that cluster first)"
        )
    _relocate(files, manifest.get("source"), ws)
    ensure_private_dir(ws.home)
    tmp = Path(tempfile.mkdtemp(dir=ws.home, prefix=f".import-{name}-"))
    try:
        os.chmod(tmp, DIR_MODE)
        for rel, content in files.items():
            target = tmp / rel
            ensure_private_dir(target.parent, tighten=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        if ws.path.exists():  # made meanwhile: rename would replace an empty one
            raise FileExistsError(17, "it exists now")
        os.rename(tmp, ws.path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorkspaceError(
            f"cannot import into {ws.path}: {exc.strerror}; nothing was written"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Imported(ws.path, name, len(files), str(manifest.get("exported_at") or ""))
