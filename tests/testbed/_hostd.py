"""Per-host anchor process of the test network (run as a script, stdlib only).

One of these runs for every test host, as root, started by ``Testbed`` as::

    ip netns exec <netns> unshare -m -u --propagation private python _hostd.py <host.json>

so it lives in the host's (real) network namespace and in a new private mount and UTS
namespace. It

1. sets the host name and mounts private tmpfs over the directories listed in the host config
   (``/etc/nomad.d``, ``/opt/nomad``, ``/etc/systemd/system``, ``/usr/local/bin``, ...), binds
   the host's ``/etc/hosts`` and installs the systemctl/journalctl shim;
2. becomes a child subreaper, so that every process started on the host (daemons started
   through the shim are orphaned on purpose) is reaped here; the exit status of a unit's main
   process is written to ``/run/testbed-shim/<unit>.exit`` for the shim;
3. runs the host's real OpenSSH ``sshd -D`` as its child;
4. when ``delay_ms`` > 0, runs a delaying TCP relay on ``<address>:22`` in front of sshd
   (which then listens on 127.0.0.1:22) that holds every chunk back ``delay_ms`` in each
   direction;
5. answers a line protocol on a Unix socket (``ping``, ``start-sshd``, ``kill-sshd``,
   ``delay N``), used by ``Testbed.kill_sshd`` / ``start_sshd`` / ``set_delay``.

When ready it prints ``ready <sshd pid>`` on stdout and then points stdout/stderr at its log,
so the process that started it may go away (``python -m tests.testbed up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import grp
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time

SHIM_DIR = "/run/testbed-shim"
MS_BIND = 4096
MS_RDONLY = 1
MS_REMOUNT = 32
MS_REC = 16384
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    res = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def open_up(path: str, stage: str) -> None:
    """Make `path` (a directory others cannot enter, e.g. /root) enterable on this host only:
    a tmpfs of mode 0711 (same owner) over it, every entry of the real one bound back in place
    (directories with what is mounted below them, symlinks copied). Nothing is listed to
    others and no entry's own mode changes; the machine's `path` is untouched."""
    st = os.stat(path)
    os.makedirs(stage)
    _mount(path, stage, None, MS_BIND | MS_REC, None)
    _mount("tmpfs", path, "tmpfs", 0, f"mode=711,uid={st.st_uid},gid={st.st_gid},size=1m")
    for name in os.listdir(stage):
        src, dst = f"{stage}/{name}", f"{path}/{name}"
        try:
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            elif os.path.isdir(src):
                os.mkdir(dst)
                _mount(src, dst, None, MS_BIND | MS_REC, None)
            else:
                open(dst, "w").close()
                _mount(src, dst, None, MS_BIND, None)
        except OSError as exc:  # a socket or device: not needed on a host
            log(f"open_up: {src} left out: {exc}")


def log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} hostd: {msg}\n")
    sys.stderr.flush()


class HostDaemon:
    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.delay = cfg["delay_ms"] / 1000.0
        self.sshd_pid: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # ---- setup (before the event loop) -------------------------------------------------
    def setup_namespace(self) -> None:
        cfg = self.cfg
        socket.sethostname(cfg["hostname"])
        # Copy-on-write overlays first (the private dirs below then sit on top of them):
        # upper layers on a tmpfs mounted in this namespace only, so the machine never sees
        # what the host changes there.
        if cfg.get("overlays"):
            base = cfg["overlay_base"]
            _mount("tmpfs", base, "tmpfs", 0, "mode=700,size=2g")
            for i, lower in enumerate(cfg["overlays"]):
                upper, work = f"{base}/{i}/upper", f"{base}/{i}/work"
                os.makedirs(upper)
                os.makedirs(work)
                opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
                _mount("overlay", lower, "overlay", 0, opts)
        for i, path in enumerate(cfg.get("open_dirs", [])):
            open_up(path, f"{cfg['overlay_base']}/open{i}")
        for path, mode, uid, gid in cfg["private_dirs"]:
            _mount("tmpfs", path, "tmpfs", 0, f"mode={mode:o},uid={uid},gid={gid},size=2g")
        for src, dst in cfg["binds"]:
            _mount(src, dst, None, MS_BIND, None)
        for src, dst in cfg["install"]:
            with open(src, "rb") as f:
                data = f.read()
            with open(dst, "wb") as f:
                f.write(data)
            os.chmod(dst, 0o755)
        # The host has only its own subnet: no IPv6 (no link-local chatter), no default route.
        for knob in ("all", "default", "lo", "eth0"):
            knob_path = f"/proc/sys/net/ipv6/conf/{knob}/disable_ipv6"
            with contextlib.suppress(OSError), open(knob_path, "w") as f:
                f.write("1")
        # Only now (IPv6 off) plug the host's end of its veth in.
        subprocess.run([cfg["ip"], "link", "set", "eth0", "up"], check=True)
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    # ---- sshd ------------------------------------------------------------------------
    def sshd_alive(self) -> bool:
        if self.sshd_pid is None:
            return False
        try:
            with open(f"/proc/{self.sshd_pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state not in ("Z", "X")

    def start_sshd(self) -> int:
        if self.sshd_alive():
            assert self.sshd_pid is not None
            return self.sshd_pid
        cfg = self.cfg
        proc = subprocess.Popen(
            [cfg["sshd"], "-D", "-f", cfg["sshd_config"], "-E", cfg["sshd_log"]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        # We reap it ourselves (SIGCHLD handler); keep Popen from doing so.
        proc.returncode = 0
        self.sshd_pid = proc.pid
        host, port = cfg["sshd_listen"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not self.sshd_alive():
                raise RuntimeError(f"sshd exited at start, see {cfg['sshd_log']}")
            try:
                with socket.create_connection((host, port), timeout=1):
                    return proc.pid
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"sshd not listening on {host}:{port} after 15 s")

    def kill_sshd(self, sig: int = signal.SIGTERM) -> None:
        if self.sshd_pid is not None and self.sshd_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.sshd_pid, sig)
            deadline = time.monotonic() + 5
            while self.sshd_alive() and time.monotonic() < deadline:
                self.reap()
                time.sleep(0.01)
            if self.sshd_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.sshd_pid, signal.SIGKILL)
        self.reap()

    # ---- reaping -----------------------------------------------------------------------
    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            self.record_exit(pid, code)

    def record_exit(self, pid: int, code: int) -> None:
        try:
            names = os.listdir(SHIM_DIR)
        except OSError:
            return
        for name in names:
            if not name.endswith(".pid"):
                continue
            unit = name[: -len(".pid")]
            try:
                with open(os.path.join(SHIM_DIR, name)) as f:
                    recorded = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            if recorded != pid:
                continue
            with open(os.path.join(SHIM_DIR, unit + ".exit"), "w") as f:
                f.write(f"{pid} {code}\n")
            how = f"status={code}" if code >= 0 else f"signal={signal.Signals(-code).name}"
            with (
                contextlib.suppress(OSError),
                open(os.path.join(SHIM_DIR, unit + ".log"), "a") as f,
            ):
                f.write(f"testbed-shim: {unit}.service: main process {pid} exited, {how}\n")

    # ---- units (asked by the systemctl shim) ------------------------------------------
    def spawn(self, req: dict) -> int:
        """Start a unit's main process as our own child, detached, output to its log."""
        kw: dict = {
            "stdin": subprocess.DEVNULL,
            "stderr": subprocess.STDOUT,
            "start_new_session": True,
            "close_fds": True,
            "cwd": req.get("cwd") or "/",
            "env": req["env"],
        }
        user, group = req.get("user"), req.get("group")
        if user:
            pw = pwd.getpwuid(int(user)) if str(user).isdigit() else pwd.getpwnam(user)
            kw["user"] = pw.pw_uid
            kw["group"] = pw.pw_gid
            kw["extra_groups"] = [g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem]
        if group:
            kw["group"] = int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
        with open(req["log"], "ab") as log_f:
            proc = subprocess.Popen(req["argv"], stdout=log_f, **kw)
        proc.returncode = 0  # reaped by self.reap, not by Popen
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                start = f.read().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            start = "0"
        tmp = req["pidfile"] + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{proc.pid} {start}\n")
        os.rename(tmp, req["pidfile"])
        return proc.pid

    # ---- delaying relay ----------------------------------------------------------------
    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def pump() -> None:
            while True:
                try:
                    data = await reader.read(65536)
                except OSError:
                    data = b""
                queue.put_nowait((loop.time() + self.delay, data))
                if not data:
                    return

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await asyncio.gather(pump(), deliver())

    async def _relay_conn(
        self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> None:
        host, port = self.cfg["sshd_listen"]
        try:
            ureader, uwriter = await asyncio.open_connection(host, port)
        except OSError:
            cwriter.close()
            return
        for w in (cwriter, uwriter):
            sock = w.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(self._pipe(creader, uwriter), self._pipe(ureader, cwriter))
        finally:
            for w in (cwriter, uwriter):
                with contextlib.suppress(Exception):
                    w.close()

    # ---- control socket ----------------------------------------------------------------
    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode().strip()
            cmd, _, arg = line.partition(" ")
            loop = asyncio.get_running_loop()
            if cmd == "ping":
                reply = "ok pong"
            elif cmd == "start-sshd":
                pid = await loop.run_in_executor(None, self.start_sshd)
                reply = f"ok {pid}"
            elif cmd == "kill-sshd":
                sig = int(arg) if arg else signal.SIGTERM
                await loop.run_in_executor(None, self.kill_sshd, sig)
                reply = "ok"
            elif cmd == "spawn":
                # Synchronous on the loop thread: the pid file exists before SIGCHLD of this
                # child can be handled, so its exit status is always recorded.
                reply = f"ok {self.spawn(json.loads(arg))}"
            elif cmd == "delay":
                if not self.cfg["relay_listen"]:
                    reply = "err this host has no relay (created with delay_ms=0)"
                else:
                    self.delay = float(arg) / 1000.0
                    reply = "ok"
            else:
                reply = f"err unknown command {cmd!r}"
        except Exception as exc:
            reply = f"err {type(exc).__name__}: {exc}"
        writer.write((reply + "\n").encode())
        with contextlib.suppress(Exception):
            await writer.drain()
            writer.close()

    async def main(self, ready_fd: int) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, self.reap)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        ctl = self.cfg["control_socket"]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ctl)
        server = await asyncio.start_unix_server(self._control, path=ctl, limit=1 << 22)
        # The same service inside the host (its private /run/testbed-shim), for the shim.
        inner = os.path.join(SHIM_DIR, ".control.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(inner)
        old_umask = os.umask(0o077)
        try:
            inner_server = await asyncio.start_unix_server(self._control, path=inner, limit=1 << 22)
        finally:
            os.umask(old_umask)
        relay = None
        if self.cfg["relay_listen"]:
            rhost, rport = self.cfg["relay_listen"]
            relay = await asyncio.start_server(self._relay_conn, rhost, rport, backlog=256)
        pid = await loop.run_in_executor(None, self.start_sshd)
        os.write(ready_fd, f"ready {pid}\n".encode())
        # From here on, log to the host's file only: whoever started us may be gone.
        logfd = os.open(self.cfg["hostd_log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(logfd, 1)
        os.dup2(logfd, 2)
        os.close(logfd)
        log(f"ready, sshd pid {pid}")
        await stop.wait()
        log("stopping")
        server.close()
        inner_server.close()
        if relay is not None:
            relay.close()
        self.kill_sshd(signal.SIGKILL)


def main() -> int:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    daemon = HostDaemon(cfg)
    try:
        daemon.setup_namespace()
        asyncio.run(daemon.main(1))
    except Exception as exc:
        with contextlib.suppress(OSError):
            os.write(1, f"error {type(exc).__name__}: {exc}\n".encode())
        log(f"fatal: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("hostd must run as root")
    try:
        sys.exit(main())
    except OSError as e:
        if e.errno == errno.EPIPE:
            sys.exit(1)
        raise
