"""The workspace trusts only its owner, as OpenSSH's StrictModes trusts `~/.ssh`.

A directory nomadctl works in (the cluster directory and every directory above it up to the
home), and every file it reads or deletes there, must be owned by the current user or root,
writable by no one else (no group or world write bit), and not a symbolic link (files are
opened with O_NOFOLLOW, so the check and the read are of the same file). Anything else is a
WorkspaceError (exit 3) naming the path, before anything is read, written or deleted: with
a shared or world-writable `--home`, another local user could otherwise receive the CA key,
point `down` at a directory of their choosing, or plant a `state.json`. Recursive removal
happens only inside directories checked this way; `shutil.rmtree` itself never follows a
symlink below its top.

The home itself may be a symlink (a user's own `~/.nomadctl -> /data/nomadctl`); what it
points to is checked like any other directory. Only this module's functions touch `os.lstat`
for trust; the rest of nomadctl calls them.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from nomadctl.errors import WorkspaceError

FIX = "nomadctl trusts only what its own user (or root) owns and no one else may write"


def _refuse(path: Path, why: str) -> WorkspaceError:
    return WorkspaceError(f"{path} {why}: {FIX}; fix it or use another --home")


def _owner_and_mode(path: Path, st: os.stat_result) -> None:
    if st.st_uid not in (os.geteuid(), 0):
        raise _refuse(path, f"is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})")
    if st.st_mode & 0o022:
        mode = stat.S_IMODE(st.st_mode)
        raise _refuse(path, f"is writable by group or others (mode {mode:04o})")


def check_dirs(path: Path, top: Path) -> None:
    """`path` and every directory above it up to and including `top`, those that exist:
    real directories (`top` may be a symlink to one), ours or root's, not group- or
    world-writable. A `path` outside `top` is checked alone."""
    path, top = Path(os.path.abspath(path)), Path(os.path.abspath(top))
    chain = [path]
    if path != top and path.is_relative_to(top):
        chain += [p for p in path.parents if p.is_relative_to(top)]
    for current in chain:
        try:
            st = os.lstat(current)
            if current == top and stat.S_ISLNK(st.st_mode):
                st = os.stat(current)
        except FileNotFoundError:
            continue  # not made yet: made by us, 0700, when it is
        except OSError as exc:
            raise WorkspaceError(f"cannot inspect {current}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise _refuse(current, "is a symbolic link")
        if not stat.S_ISDIR(st.st_mode):
            raise _refuse(current, "is not a directory")
        _owner_and_mode(current, st)


def check_tree(root: Path, top: Path, skip: tuple[str, ...] = ("data",)) -> None:
    """`root` and the directories above it up to `top` (`check_dirs`), then everything
    below `root`: no symlink, each directory and file ours or root's and writable by no one
    else. Directories named in `skip` (an agent's own data dir) are checked themselves but
    not entered: what runs there writes what it likes."""
    check_dirs(root, top)
    if not os.path.isdir(root):
        return  # nothing made yet
    for here, dirs, files in os.walk(root, onerror=_walk_error):
        for name in [*dirs, *files]:
            path = Path(here, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                raise _refuse(path, "is a symbolic link")
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                if stat.S_ISSOCK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
                    _owner_and_mode(path, st)  # an agent's socket: ours, checked
                    continue
                raise _refuse(path, "is neither a file nor a directory")
            _owner_and_mode(path, st)
        dirs[:] = [d for d in dirs if d not in skip]


def _walk_error(exc: OSError) -> None:
    if isinstance(exc, FileNotFoundError):
        return  # gone while we looked (an agent's own file)
    raise WorkspaceError(f"cannot inspect {exc.filename}: {exc.strerror}")


def _check_fd(path: Path, fd: int) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, "is not a regular file")
    _owner_and_mode(path, st)


def open_file(path: Path, top: Path, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """An fd for `path` after its directories up to `top` and the file itself pass: never
    through a symlink (O_NOFOLLOW). OSError as os.open raises it (FileNotFoundError ...)."""
    check_dirs(path.parent, top)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(path, "is a symbolic link") from None
        raise
    try:
        _check_fd(path, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file(path: Path, top: Path) -> bytes:
    """The bytes of `path`, checked as `open_file` does."""
    fd = open_file(path, top)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def check_file(path: Path, top: Path) -> bool:
    """Before deleting `path`: False if it does not exist, True if it passes (its
    directories, and it is a regular file of ours, not a symlink); WorkspaceError if not."""
    check_dirs(path.parent, top)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, "is not a regular file")
    _owner_and_mode(path, st)
    return True


def remove_tree(path: Path, top: Path) -> None:
    """Remove the directory `path` and everything in it, after it and every directory up to
    `top` pass. Nothing is removed when one does not."""
    if os.path.abspath(path) == os.path.abspath(top):
        raise WorkspaceError(f"refusing to remove {path}: it is the top of the workspace")
    check_dirs(path, top)
    shutil.rmtree(path)
