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

from nomadctl import trust
from nomadctl.workspace import SECRET_MODE, ensure_private_dir

PROC = Path("/proc")


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

    @property
    def restart_file(self) -> Path:
        """Present while the running agent's config is newer than the agent (a roll's
        restart is due): written before the new config, removed once it runs it."""
        return self.root / "restart-pending"

    def make(self) -> None:
        for d in (self.root.parent, self.root, self.config, self.tls, self.data):
            ensure_private_dir(d)


def argv(binary: Path, node: NodeDir) -> list[str]:
    return [str(binary), "agent", "-config", str(node.config)]


def _cmdline(pid: int) -> str | None:
    """The process's command line (args joined by spaces), None when gone or a zombie.

    /proc where there is one (Linux); `ps` elsewhere (macOS)."""
    if not PROC.is_dir():
        return _ps_cmdline(pid)
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
        _reap(pid)
        return None
    return " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)


def _ps_cmdline(pid: int) -> str | None:
    out = _ps("-p", str(pid), "-o", "stat=,command=")
    line = out.strip()
    if not line or line.startswith("Z"):
        _reap(pid)
        return None
    return line.split(None, 1)[1] if " " in line else None


def _ps(*args: str) -> str:
    try:
        return subprocess.run(
            ["ps", "-ww", *args], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _all_pids() -> list[int]:
    if PROC.is_dir():
        return [int(e.name) for e in PROC.iterdir() if e.name.isdigit()]
    return [int(w) for w in _ps("-ax", "-o", "pid=").split() if w.isdigit()]


def _reap(pid: int) -> None:
    """Collect our own dead child (when the agent was started by this process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_agent(pid: int, node: NodeDir) -> bool:
    """Is `pid` an agent running with this node's config dir (whatever its binary)?

    A script binary runs as `<interpreter> [flags] <binary> agent ...`: the tail counts."""
    cmd = _cmdline(pid)
    return cmd is not None and cmd.endswith(f" agent -config {node.config}")


def agent_binary(pid: int, node: NodeDir) -> str | None:
    """The binary an agent of this node runs (its command line before `agent -config`)."""
    cmd = _cmdline(pid)
    tail = f" agent -config {node.config}"
    if cmd is None or not cmd.endswith(tail):
        return None
    return cmd[: -len(tail)].rsplit(" ", 1)[-1] or None


def runs_binary(pid: int, binary: Path) -> bool:
    cmd = _cmdline(pid) or ""
    return f"{binary} agent -config " in cmd


def running_pid(node: NodeDir) -> int | None:
    """The node's agent pid: from the pid file, else found among all processes."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(trust.read_file(node.pid_file, node.root).decode().strip())
        if is_agent(pid, node):
            return pid
    for pid in _all_pids():
        if is_agent(pid, node):
            return pid
    return None


def running_pids(nodes: Sequence[NodeDir]) -> dict[Path, int]:
    """`running_pid` of each node (by its root), with one look at all processes for those
    whose pid file names no agent (a first start: six nodes once cost six /proc scans)."""
    found: dict[Path, int] = {}
    for node in nodes:
        with contextlib.suppress(OSError, ValueError):
            pid = int(trust.read_file(node.pid_file, node.root).decode().strip())
            if is_agent(pid, node):
                found[node.root] = pid
    missing = {f" agent -config {n.config}": n for n in nodes if n.root not in found}
    if missing:
        for pid in _all_pids():
            cmd = _cmdline(pid) or ""
            node = next((n for tail, n in missing.items() if cmd.endswith(tail)), None)
            if node is not None and node.root not in found:
                found[node.root] = pid
    return found


def strays(root: Path) -> list[int]:
    """Processes whose command line names a path under `root` (task executors, say)."""
    me = os.getpid()
    return [p for p in _all_pids() if p != me and str(root) + os.sep in (_cmdline(p) or "")]


# What an agent may inherit from the operator's environment, by name: where programs and
# home are, the locale and time zone, the temporary directory, and where the Docker driver
# finds Docker (it reads DOCKER_HOST and its TLS settings as the docker CLI does). Nothing
# else: no NOMAD_* (a token or address meant for the CLI), no cloud, Vault, Consul or Git
# credentials. A client passes its environment on to raw_exec tasks (and exec tasks see
# part of it), so whatever an agent inherits, every job a user token can submit can read.
AGENT_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
)


def _agent_env() -> dict[str, str]:
    """The operator's environment cut down to AGENT_ENV and the LC_* locale variables."""
    return {k: v for k, v in os.environ.items() if k in AGENT_ENV or k.startswith("LC_")}


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
            env=_agent_env(),
        )
    finally:
        os.close(fd)
    tmp = node.pid_file.with_suffix(".tmp")
    tmp.write_text(f"{proc.pid}\n")
    tmp.chmod(SECRET_MODE)
    os.replace(tmp, node.pid_file)
    return proc.pid


def mark_restart(node: NodeDir) -> None:
    node.restart_file.touch(mode=SECRET_MODE)


def restart_pending(node: NodeDir) -> bool:
    return node.restart_file.exists()


def restart_done(node: NodeDir) -> None:
    node.restart_file.unlink(missing_ok=True)


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
    """SIGINT the agent alone (a restart), wait (bounded), then SIGKILL; True once gone."""
    return not stop_all([pid], timeout, group=False)


def stop_all(
    pids: Sequence[int], timeout: float = 10.0, group: bool = True, leave: bool = False
) -> list[int]:
    """`stop` for many agents at once (they shut down side by side); the pids left.

    The agent gets SIGINT, as systemd's `KillSignal=SIGINT` gives it on a node: with
    leave_on_interrupt off it stops without leaving the cluster (a restart, or `down`).
    `leave`: SIGTERM instead, which a server with leave_on_terminate answers with a graceful
    leave, out of raft before it exits (nomad/server.go Leave; command/agent/command.go
    terminateGracefully gives it gracefulTimeout, 5s, then exits 1). `group`: then the rest
    of the agent's process group too (it leads its own, start_new_session), for `down`;
    without, only the agent (a restart: Nomad's task executors outlive it)."""
    _signal(pids, signal.SIGTERM if leave else signal.SIGINT, False)
    left = _wait_gone(pids, timeout, False)
    if group:  # executors and tasks (go-plugin processes ignore SIGINT)
        _signal(pids, signal.SIGTERM, True)
        left = _wait_gone(pids, timeout, True)
    if left:
        _signal(left, signal.SIGKILL, group)
        left = _wait_gone(left, 5.0, group)
    return left


def kill(pids: Sequence[int]) -> list[int]:
    """SIGKILL these processes (strays under a removed node); the ones still there."""
    _signal(pids, signal.SIGKILL, False)
    return _wait_gone(pids, 5.0, False)


def _signal(pids: Sequence[int], sig: int, group: bool) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig) if group else os.kill(pid, sig)


def _wait_gone(pids: Sequence[int], timeout: float, group: bool) -> list[int]:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        left = [p for p in pids if _alive(p) or (group and _group_alive(p))]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)  # a connect attempt is cheap; a late look costs `up`


def _listening(ip: str, port: int) -> bool:
    """Does a socket listen on ip:port (or the wildcard)? Linux: read from /proc/net/tcp
    (state 0A), so that no connection is made: the agent's HTTPS port logs a bare connect
    as "http: TLS handshake error ... EOF" (Go's net/http), a line in every new agent's log.
    Elsewhere (macOS): a connect."""
    try:
        with open("/proc/net/tcp") as f:
            table = f.read()
    except OSError:
        with contextlib.suppress(OSError), socket.create_connection((ip, port), timeout=1.0):
            return True
        return False
    suffix = f":{port:04X}"
    wanted = {f"{int.from_bytes(socket.inet_aton(ip), 'little'):08X}{suffix}", f"00000000{suffix}"}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] in wanted and fields[3] == "0A":
            return True
    return False


def wait_listening(pid: int, ip: str, port: int, timeout: float) -> str | None:
    """Poll until the agent listens on ip:port; None, or why not (it exited, timeout)."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if _listening(ip, port):
            return None
        if not _alive(pid):
            return "the agent exited"
        if time.monotonic() > deadline:
            return f"the agent does not listen on {ip}:{port} after {timeout:.0f}s"
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)  # a connect attempt is cheap; a late look costs `up`


def last_lines(path: Path, n: int = 3) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        return " | ".join(lines[-n:])
    return ""
