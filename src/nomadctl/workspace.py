"""The cluster's directory: `$NOMADCTL_HOME/<cluster>/`.

Everything nomadctl knows about a cluster lives here: certificates, the gossip key, the SSH
key, known_hosts, ACL tokens and `state.json`. Directories are 0700, secret files 0600, and
every write is atomic (temp file in the same directory, fsync, rename), so an interrupted
command never leaves half a file behind. A lock file serialises commands that change the
cluster.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nomadctl import trust
from nomadctl.errors import LazyPattern, UsageError, WorkspaceError

CLUSTER_NAME_RE = LazyPattern(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
DEFAULT_HOME = Path("~/.nomadctl")
STATE_VERSION = 1

# What finds a cluster when its state.json is damaged or gone, for the error that says so.
WITHOUT_STATE = (
    "`nomadctl down` and `up` find local agents from their directories and AWS resources "
    "by tag without it"
)

DIR_MODE = 0o700
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


def validate_cluster_name(name: str) -> str:
    """Lowercase letters, digits and '-', 1 to 32 characters, no leading/trailing '-'."""
    if not CLUSTER_NAME_RE.fullmatch(name or ""):
        raise UsageError(
            f"invalid cluster name {name!r}: use 1-32 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def default_home() -> Path:
    return DEFAULT_HOME.expanduser()


def known_clusters(home: Path) -> list[str]:
    """The clusters with a state.json under `home`, sorted (what a wrong --cluster is told)."""
    home = Path(home).expanduser()
    if not home.is_dir():
        return []
    return sorted(
        p.name
        for p in home.iterdir()
        if CLUSTER_NAME_RE.fullmatch(p.name) and (p / "state.json").is_file()
    )


CURRENT_FILE = "current-cluster"  # `nomadctl use NAME`: the cluster when none is named


def current_cluster(home: Path) -> str | None:
    """The cluster `nomadctl use` chose in `home`, or None (none chosen, or the file is not
    a cluster name: then the default applies and `use` says so)."""
    try:
        name = (Path(home).expanduser() / CURRENT_FILE).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if CLUSTER_NAME_RE.fullmatch(name) else None


def set_current_cluster(home: Path, name: str) -> Path:
    """Make `name` the cluster commands act on when none is named (`nomadctl use`)."""
    home = ensure_private_dir(Path(home).expanduser())
    path = home / CURRENT_FILE
    atomic_write(path, f"{validate_cluster_name(name)}\n".encode(), 0o600)
    return path


def known_text(home: Path) -> str:
    """The clusters in HOME named in a sentence, or that there is none yet."""
    found = known_clusters(home)
    if not found:
        return f"no clusters in {home} yet (`nomadctl up --local` makes one)"
    return f"clusters in {home}: {', '.join(found)}"


def ensure_private_dir(path: Path, tighten: bool = False) -> Path:
    """Create `path` (and missing parents) with mode 0700.

    A directory that already exists is left as it is (a `--home` of /tmp or ~ is the user's,
    not ours to chmod), unless `tighten` says it is nomadctl's own: the cluster directory
    and what is below it."""
    try:
        if not path.parent.is_dir():
            ensure_private_dir(path.parent)  # pathlib's parents=True ignores `mode`
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise
            if tighten and path.stat().st_mode & 0o777 != DIR_MODE:
                path.chmod(DIR_MODE)
        else:
            path.chmod(DIR_MODE)  # mkdir's mode is cut by the umask
    except OSError as exc:
        raise disk_error(f"cannot create directory {path}", exc) from None
    return path


# What to do about a file system that refuses a write, by errno: one line says it.
DISK_FIXES = {
    errno.ENOSPC: "free some space on that file system and re-run",
    errno.EDQUOT: "free some space (disk quota exceeded) and re-run",
    errno.EROFS: "the file system is read-only: remount it read-write (or use another --home) "
    "and re-run",
    errno.EACCES: "give this user access to it (or use another --home) and re-run",
    errno.EPERM: "give this user access to it (or use another --home) and re-run",
}


def disk_error(what: str, exc: OSError) -> WorkspaceError:
    """`what: <reason>; <what to do>` for a failed read or write in the workspace.
    Nothing was sent anywhere: nomadctl writes what it must keep before it acts."""
    fix = DISK_FIXES.get(exc.errno or 0, "fix that and re-run")
    return WorkspaceError(f"{what}: {exc.strerror or exc}; {fix}")


def check_secret(path: Path) -> Path:
    """Refuse a secret file that others may have read: mode wider than 0600, as OpenSSH does
    for private keys. Nothing is fixed silently: the user decides whether to trust it."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as exc:
        raise WorkspaceError(f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise WorkspaceError(
            f"{path} has mode {mode:04o}: a secret must be 0600 (others may have read it); "
            f"if you trust it, `chmod 600 {path}` and re-run"
        )
    return path


def atomic_write(
    path: Path, data: bytes, mode: int, top: Path | None = None, durable: bool = True
) -> None:
    """Write `data` to `path` with `mode` so readers see the old file or the new, never half.
    Its directory, and those above it up to `top`, must pass `trust.check_dirs` first.
    `durable=False` skips the fsync: for copies made again from the workspace on every run
    (the local agents' files), where a power cut may lose the write but never the source."""
    trust.check_dirs(path.parent, top or path.parent)
    ensure_private_dir(path.parent, tighten=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise disk_error(f"cannot write {path}", exc) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise disk_error(f"cannot write {path}", exc) from None


@dataclass
class Workspace:
    """One cluster's directory. Cheap to construct; nothing touches the disk until used."""

    home: Path
    cluster: str
    # The user named this cluster (--cluster, NOMADCTL_CLUSTER or the config file): its own
    # API target then wins over NOMAD_ADDR/NOMAD_TOKEN left in the shell.
    named: bool = False
    _lock_fd: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        validate_cluster_name(self.cluster)
        self.home = Path(self.home).expanduser()

    @property
    def path(self) -> Path:
        return self.home / self.cluster

    @property
    def certs_dir(self) -> Path:
        return self.path / "certificates"

    @property
    def gossip_key_path(self) -> Path:
        return self.path / "gossip.key"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    def verify(self) -> Workspace:
        """The home, the cluster directory and everything in it (but agents' data) pass
        `trust.check_tree`, or WorkspaceError (exit 3) before anything is read or written."""
        trust.check_tree(self.path, self.home)
        return self

    def exists(self) -> bool:
        return self.path.is_dir()

    def require_cluster(self, command: str) -> None:
        """For read-only commands (`env`, `ssh`, ...): a cluster nomadctl has no record of is
        one line, and nothing (no home, no cluster directory) is created for it."""
        if not self.state_path.is_file():
            raise WorkspaceError(
                f"no cluster {self.cluster!r} in {self.home}, nothing was created: "
                f"`nomadctl {command}` works on a cluster made by `nomadctl up` "
                f"(pick another with --cluster or --home; {known_text(self.home)})"
            )

    def create(self) -> Workspace:
        ensure_private_dir(self.home)
        trust.check_dirs(self.path, self.home)  # issue 28: the workspace trusts only its owner
        ensure_private_dir(self.path, tighten=True)
        return self

    # ---- files -------------------------------------------------------------------------

    def write_secret(self, path: Path, data: bytes) -> None:
        atomic_write(path, data, SECRET_MODE, self.home)

    def write_public(self, path: Path, data: bytes) -> None:
        atomic_write(path, data, PUBLIC_MODE, self.home)

    def read_secret(self, path: Path) -> bytes:
        return self.read_bytes(check_secret(path))

    def read_bytes(self, path: Path) -> bytes:
        try:
            return trust.read_file(path, self.home)
        except OSError as exc:
            raise disk_error(f"cannot read {path}", exc) from None

    # ---- state.json --------------------------------------------------------------------

    def load_state(self) -> dict[str, Any]:
        """The recorded state, or an empty one when there is none yet."""
        if not self.state_path.exists():
            return {"version": STATE_VERSION, "cluster": self.cluster}
        import json  # here, not at import: `--help` reads no state

        raw = self.read_bytes(self.state_path)
        try:
            state = json.loads(raw)
        except ValueError as exc:
            raise WorkspaceError(
                f"{self.state_path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                f"fix it or move it aside and re-run: {WITHOUT_STATE}"
            ) from None
        if not isinstance(state, dict) or state.get("cluster") != self.cluster:
            raise WorkspaceError(
                f"{self.state_path} does not belong to cluster {self.cluster!r}; fix it or "
                f"move it aside and re-run: {WITHOUT_STATE}"
            )
        if state.get("version") != STATE_VERSION:
            raise WorkspaceError(
                f"{self.state_path} has state version {state.get('version')!r}, "
                f"this nomadctl understands {STATE_VERSION}"
            )
        return state

    def read_state(self) -> tuple[dict[str, Any], str | None]:
        """For commands that must work without the state (`down`): the recorded state, or
        an empty one and why state.json could not be used."""
        try:
            return self.load_state(), None
        except WorkspaceError as exc:
            return {"version": STATE_VERSION, "cluster": self.cluster}, exc.message

    def save_state(self, state: dict[str, Any]) -> None:
        import json

        state = {**state, "version": STATE_VERSION, "cluster": self.cluster}
        data = json.dumps(state, indent=2, sort_keys=True).encode() + b"\n"
        atomic_write(self.state_path, data, SECRET_MODE, self.home)

    def update_state(self, **changes: Any) -> dict[str, Any]:
        """Merge `changes` into state.json at once (used to record each ID as it appears)."""
        state = self.load_state()
        state.update(changes)
        self.save_state(state)
        return state

    # ---- lock --------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[Workspace]:
        """Hold the cluster's lock; a second nomadctl changing the cluster fails fast."""
        fresh = not self.path.exists()
        self.create()
        lock_path = self.path / ".lock"
        try:
            fd = trust.open_file(lock_path, self.home, os.O_RDWR | os.O_CREAT, SECRET_MODE)
        except OSError as exc:
            raise disk_error(f"cannot take the lock {lock_path}", exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise WorkspaceError(
                    f"cluster {self.cluster!r} is busy: another nomadctl (pid {holder}) "
                    "is changing it; wait for it to finish, then re-run"
                ) from None
            with contextlib.suppress(OSError):  # the pid is a courtesy; the flock is the lock
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._lock_fd = fd
            yield self
        finally:
            self._lock_fd = None
            if fresh:  # a command that wrote nothing leaves no workspace behind
                with contextlib.suppress(OSError):
                    if [p.name for p in self.path.iterdir()] == [".lock"]:
                        lock_path.unlink()
                        self.path.rmdir()
            os.close(fd)  # closing releases the flock
