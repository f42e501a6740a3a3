"""The `nomad` command line (`version`, `agent -config ...`) and the Agent tying roles together."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import wsexec
from .api import Api
from .client import ClientRole
from .common import REVISION, VERSION, AgentError, Log, fault_armed
from .config import AgentConfig, build_config, load_config_files, validate
from .day2 import reload_tls
from .server import ServerRole
from .transport import Listener, Request, Response, Rpc, server_ssl_context

# ---------------------------------------------------------------------------- the agent


DIE_AFTER = 3.0  # the first-start fault point: seconds after listening, well after `up` saw it


class Agent:
    def __init__(self, cfg: AgentConfig, log: Log) -> None:
        self.cfg, self.log = cfg, log
        self.stop = threading.Event()
        self.boot = str(uuid.uuid4())
        self.listeners: list[Listener] = []
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self.rpc = Rpc(cfg)
        self.server: ServerRole | None = ServerRole(self) if cfg.server_enabled else None
        self.client: ClientRole | None = ClientRole(self) if cfg.client_enabled else None
        self.api = Api(self)

    def _listen(
        self, proto: str, dispatch: Callable[[Request], Response], ctx: ssl.SSLContext | None
    ) -> None:
        addr = (self.cfg.bind[proto], self.cfg.ports[proto])
        try:
            # nomad/rpc.go handleMultiplexV2 never closes an idle RPC connection (the caller's
            # pool reaps it): an idle timeout there broke a follower's kept connection.
            idle = None if proto == "rpc" else 30.0
            lst = Listener(addr, dispatch, ctx, self.log, proto, idle)
        except OSError as exc:
            raise AgentError(
                f"Error starting agent: failed to listen on {proto} "
                f"{addr[0]}:{addr[1]}: {exc.strerror or exc}"
            ) from None
        if proto == "http":
            lst.takeover = functools.partial(wsexec.takeover, self)
        self.listeners.append(lst)

    def reopen_http(self, ctx: ssl.SSLContext | None) -> None:
        """A new HTTP server on the same address (a TLS reload, day2.reload_tls)."""
        self._listen("http", self.api.http_dispatch, ctx)
        self.listeners[-1].start()

    def start(self) -> None:
        t = self.cfg.tls
        http_ctx = server_ssl_context(t, t.verify_https_client) if t.http else None
        if self.server is not None and fault_armed("server-dies-in-first-start"):
            # Tests only: a server that listens on HTTP but never joins, and dies at the
            # first leader poll it gets, the way an agent crashes while the cluster forms; or
            # after DIE_AFTER if no poll comes to it (nomadctl may ask another server).
            self._listen("http", self._die, http_ctx)
            self.listeners[0].start()
            timer = threading.Timer(DIE_AFTER, self._exit)
            timer.daemon = True
            timer.start()
            return
        self._listen("http", self.api.http_dispatch, http_ctx)
        if self.server is not None:
            rpc_ctx = server_ssl_context(t, True) if t.rpc else None
            self._listen("rpc", self.server.rpc_dispatch, rpc_ctx)
            self._listen("serf", self.server.serf_dispatch, None)
        for lst in self.listeners:
            lst.start()
        if self.server is not None:
            self.server.start()
        if self.client is not None:
            self.client.start()

    def _die(self, req: Request) -> Response:
        if req.path != "/v1/status/leader":
            return self.api.http_dispatch(req)
        self._exit()
        raise AssertionError("unreachable")

    def _exit(self) -> None:
        self.log("ERROR", "agent: fault point: exiting during the first start")
        os._exit(1)

    def shutdown(self, leave: bool) -> None:
        if leave and self.server is not None:
            self.server.leave()
        self.stop.set()
        for lst in self.listeners:
            lst.shutdown()
            lst.server_close()


def _banner(cfg: AgentConfig, log: Log) -> None:
    for f in cfg.files:
        log.ui(f"==> Loaded configuration from {f}")
    log.ui("==> Starting Nomad agent (stand-in for tests, not HashiCorp Nomad)...")
    rows = {
        "Advertise Addrs": "HTTP: {}; RPC: {}; Serf: {}".format(
            *(f"{h}:{p}" for h, p in (cfg.advertise[k] for k in ("http", "rpc", "serf")))
        ),
        "Bind Addrs": "HTTP: {}; RPC: {}; Serf: {}".format(
            *(f"{cfg.bind[k]}:{cfg.ports[k]}" for k in ("http", "rpc", "serf"))
        ),
        "Client": str(cfg.client_enabled).lower(),
        "Log Level": cfg.log_level,
        "Node Id": "",
        "Region": f"{cfg.region} (DC: {cfg.datacenter})",
        "Server": str(cfg.server_enabled).lower(),
        "Version": VERSION,
    }
    log.ui("==> Nomad agent configuration:\n")
    for k, v in rows.items():
        log.ui(f"{k:>20}: {v}")
    log.ui("\n==> Nomad agent started! Log data will stream in below:\n")


def agent_main(args: list[str]) -> int:
    log = Log()
    paths: list[str] = []
    overrides: dict[str, Any] = {}
    flags = {
        "-data-dir": "data_dir",
        "-bind": "bind_addr",
        "-node": "name",
        "-region": "region",
        "-dc": "datacenter",
        "-log-level": "log_level",
    }
    it = iter(args)
    for arg in it:
        name, eq, value = arg.partition("=")
        name = "-" + name.lstrip("-")
        if name in ("-config", *flags) and not eq:
            value = next(it, "")
        if name == "-config":
            paths.append(value)
        elif name in flags:
            overrides[flags[name]] = value
        elif name in ("-server", "-client"):
            overrides.setdefault(name[1:], {})["enabled"] = True
        else:
            log.ui(f"==> Error parsing flags: flag provided but not defined: {arg}")
            return 1
    try:
        raw, files = load_config_files(paths)
        cfg = build_config(raw, files, overrides)
        log = Log(cfg.log_level)
        validate(cfg)
    except AgentError as exc:
        log.ui(f"==> Error: {exc}" if not str(exc).startswith("Error") else f"==> {exc}")
        return 1
    _banner(cfg, log)
    for key in cfg.ignored:
        log("WARN", f"agent: stand-in ignores config block or key: {key}")
    try:
        agent = Agent(cfg, log)
        agent.start()
    except (AgentError, OSError, ssl.SSLError) as exc:
        text = str(exc)
        log.ui(f"==> {text}" if text.startswith("Error") else f"==> Error starting agent: {text}")
        return 1
    caught: list[int] = []
    failed: list[str] = []  # a reload that ends the agent (1.10.1+)
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            log.ui("==> Caught signal: hangup")
            fatal = reload_tls(agent.api.day2)
            if fatal is not None:
                failed.append(fatal)
                done.set()
            return
        caught.append(signum)
        done.set()

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    notify = _open_notify()
    _sd_notify(notify, "READY=1")  # command.go handleSignals: once signal handlers are set
    while not done.wait(0.5):
        pass
    _sd_notify(notify, "STOPPING=1")
    if failed:  # command.go handleSignals: "Fatal error while reloading: %v", return 1
        log.ui(f"==> Fatal error while reloading: {failed[0]}")
        agent.shutdown(leave=False)
        return 1
    sig = caught[0]
    log.ui(f"==> Caught signal: {'terminated' if sig == signal.SIGTERM else 'interrupt'}")
    graceful = cfg.leave_on_terminate if sig == signal.SIGTERM else cfg.leave_on_interrupt
    code = _leave(agent, caught, done, log) if graceful else 1
    agent.shutdown(leave=False)
    log("INFO", "agent: shutdown complete")
    return code


# command/agent/command.go (v1.8 to v1.11): `const gracefulTimeout = 5 * time.Second`.
GRACEFUL_TIMEOUT = 5.0


def _leave(agent: Agent, caught: list[int], done: threading.Event, log: Log) -> int:
    """command/agent/command.go terminateGracefully: the leave runs on its own; the agent
    exits 0 once it is done, 1 when gracefulTimeout (5s) runs out first or another signal
    comes (the leave is then cut short by the shutdown)."""
    log.ui("==> Gracefully shutting down agent...")
    left = threading.Event()
    left_at: list[float] = []
    # Set before the leave starts, and the leave judged by when it finished, not by when this
    # thread saw it: a leave that takes its whole 5 s raft grace loses, as in Nomad, however
    # the two threads are scheduled.
    deadline = time.monotonic() + GRACEFUL_TIMEOUT

    def leave() -> None:
        if agent.server is not None:
            agent.server.leave()
        left_at.append(time.monotonic())
        left.set()

    threading.Thread(target=leave, daemon=True).start()
    done.clear()
    while not left.is_set():
        if done.is_set() or time.monotonic() >= deadline:  # a second signal, or the timeout
            return 1
        left.wait(min(0.05, max(deadline - time.monotonic(), 0)))
    return 0 if left_at[0] < deadline else 1


def _open_notify() -> socket.socket | None:
    """command/agent/sdnotify_linux.go openNotify (Nomad 1.8+): connect to NOTIFY_SOCKET if
    set, and unset it so children do not inherit it."""
    sock_path = os.environ.pop("NOTIFY_SOCKET", "")
    major, minor = (int(p) for p in VERSION.split("+")[0].split(".")[:2])
    if not sock_path or (major, minor) < (1, 8):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.settimeout(1.0)
        sock.connect(sock_path)
    except OSError:
        sock.close()
        return None
    return sock


def _sd_notify(sock: socket.socket | None, msg: str) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.send(msg.encode())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else ""
    if cmd in ("version", "-version", "--version", "-v"):
        sys.stdout.write(
            f"Nomad v{VERSION}\nBuildDate 2025-01-01T00:00:00Z\n"
            f"Revision {REVISION} (stand-in for tests, not HashiCorp Nomad)\n"
        )
        return 0
    if cmd == "agent":
        return agent_main(args[1:])
    sys.stderr.write(
        "Usage: nomad [-version] <command> [args]\n\nStand-in for tests. Commands: agent, version\n"
    )
    return 1 if cmd not in ("-h", "--help", "help") else 0
