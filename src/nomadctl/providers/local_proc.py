"""Nomad agents as processes on this machine: start detached, find, signal, stop.

An agent runs `<binary> agent -config <node>/config` in its own session (so closing the
terminal, or Ctrl-C in it, does not reach it), stdin from /dev/null, stdout and stderr to
`<node>/nomad.log`, its pid in `<node>/nomad.pid`. A pid counts as our agent only when
/proc/<pid>/cmdline is that command line (pids are reused), and not a zombie.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nomadctl.workspace import SECRET_MODE, ensure_private_dir


@dataclass(frozen=True)
class NodeDir:
    """`<ws>/local/<node>/`: config/, tls/, data/, nomad.log, nomad.pid."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def config_file(self) -> Path:
        return self.config / "nomad.hcl"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "nomad.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "nomad.pid"

    def make(self) -> None:
        for d in (self.root.parent, self.root, self.config, self.tls, self.data):
            ensure_private_dir(d)


def argv(binary: Path, node: NodeDir) -> list[str]:
    return [str(binary), "agent", "-config", str(node.config)]


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
        _reap(pid)
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _reap(pid: int) -> None:
    """Collect our own dead child (when the agent was started by this process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_agent(pid: int, node: NodeDir) -> bool:
    """Is `pid` an agent running with this node's config dir (whatever its binary)?

    A script binary runs as `<interpreter> [flags] <binary> agent ...`: the tail counts."""
    cmd = _cmdline(pid)
    tail = ["agent", "-config", str(node.config)]
    return bool(cmd) and cmd[-3:] == tail  # type: ignore[index]


def runs_binary(pid: int, binary: Path) -> bool:
    cmd = _cmdline(pid) or []
    return str(binary) in cmd[:-3]


def running_pid(node: NodeDir) -> int | None:
    """The node's agent pid: from the pid file, else found in /proc (a lost pid file)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(node.pid_file.read_text().strip())
        if is_agent(pid, node):
            return pid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_agent(int(entry.name), node):
            return int(entry.name)
    return None


def start(binary: Path, node: NodeDir) -> int:
    """Start the agent detached; returns its pid (also written to the pid file)."""
    node.make()
    fd = os.open(node.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, SECRET_MODE)
    try:
        proc = subprocess.Popen(
            argv(binary, node),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            cwd=node.root,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)
    tmp = node.pid_file.with_suffix(".tmp")
    tmp.write_text(f"{proc.pid}\n")
    tmp.chmod(SECRET_MODE)
    os.replace(tmp, node.pid_file)
    return proc.pid


def reload(pid: int) -> None:
    """SIGHUP: Nomad reloads its TLS files (command/agent/command.go handleReload)."""
    os.kill(pid, signal.SIGHUP)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(pid: int) -> bool:
    _reap(pid)
    return _cmdline(pid) is not None


def stop(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM the agent's process group, wait (bounded), then SIGKILL; True once gone."""
    return not stop_all([pid], timeout)


def stop_all(pids: Sequence[int], timeout: float = 10.0) -> list[int]:
    """`stop` for many agents at once (they shut down side by side); the pids left."""
    _signal_groups(pids, signal.SIGTERM)  # each leads its own group (start_new_session)
    left = _wait_gone(pids, timeout)
    if left:
        _signal_groups(left, signal.SIGKILL)
        left = _wait_gone(left, 5.0)
    return left


def _signal_groups(pgids: Sequence[int], sig: int) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def _wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        left = [p for p in pids if _alive(p) or _group_alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def wait_listening(pid: int, ip: str, port: int, timeout: float) -> str | None:
    """Poll until the agent accepts TCP on ip:port; None, or why not (it exited, timeout)."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        with contextlib.suppress(OSError), socket.create_connection((ip, port), timeout=1.0):
            return None
        if not _alive(pid):
            return "the agent exited"
        if time.monotonic() > deadline:
            return f"the agent does not listen on {ip}:{port} after {timeout:.0f}s"
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def last_lines(path: Path, n: int = 3) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        return " | ".join(lines[-n:])
    return ""
