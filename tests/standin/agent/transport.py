"""HTTP(S) listeners and calls: the API, the RPC channel (mutual TLS) and sealed gossip."""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .common import CALL_TIMEOUT, ApiError, Log, split_host_port
from .config import AgentConfig, TLSConfig


def server_ssl_context(t: TLSConfig, require_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(t.cert_file, t.key_file)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(t.ca_file)
    return ctx


def client_ssl_context(t: TLSConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(t.ca_file)
    ctx.load_cert_chain(t.cert_file, t.key_file)
    ctx.check_hostname = t.verify_server_hostname
    return ctx


# -------------------------------------------------------------------------------- transport


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    peer: str
    peer_names: list[str] | None  # DNS SANs of the caller's certificate; None without TLS

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    ctype: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def ok(obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(200, json.dumps(obj).encode(), "application/json", headers or {})


def text_error(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout: float | None = 30
    server: Listener

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()
        if self.timeout is None:  # no idle timeout: undo the TLS handshake's one (_finish)
            self.connection.settimeout(None)

    def _serve(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        names: list[str] | None = None
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert() or {}
            names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        req = Request(
            self.command,
            parts.path,
            query,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            f"{self.client_address[0]}:{self.client_address[1]}",
            names,
        )
        if self.server.takeover is not None and self.server.takeover(self, req):
            self.close_connection = True  # a WebSocket (wsexec.py), now over
            return
        try:
            resp = self.server.dispatch(req)
        except ApiError as exc:
            resp = text_error(exc.status, exc.text)
        except Exception as exc:
            self.server.log("ERROR", f"{self.server.label}: {req.method} {req.path}: {exc!r}")
            resp = text_error(500, str(exc))
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log("TRACE", f"{self.server.label}: request {format % args}")


class Listener(ThreadingHTTPServer):
    """HTTP(S) listener; the TLS handshake runs in the connection's thread, not in accept()."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        addr: tuple[str, int],
        dispatch: Callable[[Request], Response],
        ctx: ssl.SSLContext | None,
        log: Log,
        label: str,
        idle_timeout: float | None = 30.0,
    ) -> None:
        self.dispatch, self.ctx, self.log, self.label = dispatch, ctx, log, label
        # A kept-alive connection idle this long is closed (None: never, the RPC listener).
        self.idle_timeout = idle_timeout
        # Serves a request on the connection itself (a WebSocket) when it returns True.
        self.takeover: Callable[[Any, Request], bool] | None = None
        self._conns: set[Any] = set()  # the connections being served (tests look at them)
        self._conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def retire(self) -> None:
        """command/agent/http.go HTTPServer.Shutdown, as command.go reloadHTTPServer calls it
        on a TLS reload (v1.10.5 to v1.11.3): the listener is closed and the serve loop waited
        for; connections it accepted go on being served, with the TLS session they have
        (Nomad never calls http.Server.Shutdown or Close there; only this stand-in's
        idle_timeout ends them, a bound Nomad does not have).
        Until the new listener is bound, a connection is refused, or reset if it was queued."""
        self.shutdown()
        self.server_close()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ctx is None:
            self._serve(request, client_address)
            return
        request.settimeout(10)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            self.log(
                "WARN",
                f"{self.label}: TLS handshake error from "
                f"{client_address[0]}:{client_address[1]}: {exc}",
            )
            return
        try:
            self._serve(tls, client_address)
        finally:
            tls.close()

    def _serve(self, conn: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            with self._conns_lock:
                self._conns.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.log(
            "DEBUG",
            f"{self.label}: connection from {client_address[0]} ended with {sys.exc_info()[1]!r}",
        )

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, args=(0.2,), daemon=True).start()


class _Conn(http.client.HTTPConnection):
    def __init__(
        self, host: str, port: int, timeout: float, ctx: ssl.SSLContext | None, sni: str | None
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ctx, self._sni = ctx, sni
        self.idle_since = 0.0  # when Rpc kept it (time.monotonic)

    def connect(self) -> None:
        super().connect()
        if self._ctx is not None:
            self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._sni or self.host)


def http_call(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    ctx: ssl.SSLContext | None = None,
    sni: str | None = None,
    timeout: float = CALL_TIMEOUT,
) -> tuple[int, bytes]:
    conn = _Conn(host, port, timeout, ctx, sni)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Rpc:
    """The internal channel: JSON over HTTP(S) on the RPC port, mutual TLS when tls.rpc.

    Connections are kept open and reused, as Nomad multiplexes its RPCs over long-lived
    connections: a handshake per heartbeat made 21 clients cost three servers a third of
    two cores. Modelled on Nomad v1.10.5 helper/pool/pool.go:
    - the caller closes a connection idle for `MAX_IDLE_TIME` (ConnPool.reap, maxTime =
      serverRPCCache, 2 minutes in nomad/server.go); the serving side never closes an idle
      one (nomad/rpc.go handleMultiplexV2 sets no deadline), hence Listener idle_timeout=None;
    - a kept connection the far side has closed meanwhile (agent restarted, TLS reload) is
      known dead before it is used: yamux's recvLoop reads the EOF when it comes, then
      Conn.getRPCClient's session.Open fails and getRPCClient clears the connection and
      dials again ("possible that the TCP session closed due to timeout");
    - an RPC that fails once its request is written is NOT sent again: ConnPool.RPC closes
      the stream, clears the connection when helper.IsErrEOF(err) and returns
      "rpc error: ..."; the server's forward (nomad/rpc.go forward, forwardLeader) does not
      retry either (its RPCHoldTimeout loop, getLeaderForRPC, only waits for a leader)."""

    MAX_IDLE = 2  # kept connections per address
    MAX_IDLE_TIME = 120.0  # serverRPCCache

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.ctx = client_ssl_context(cfg.tls) if cfg.tls.rpc else None
        self.sni = f"server.{cfg.region}.nomad" if cfg.tls.verify_server_hostname else None
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._lock = threading.Lock()

    def _kept(self, key: tuple[str, int]) -> _Conn | None:
        """A kept connection to `key` that is still open, or None; dead ones are closed."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            fresh = time.monotonic() - conn.idle_since < self.MAX_IDLE_TIME
            if fresh and not _closed_by_peer(conn.sock):
                return conn
            conn.close()

    def _clear(self, key: tuple[str, int]) -> None:
        """ConnPool.clearConn after an EOF: the other kept connections there go too."""
        with self._lock:
            idle = self._idle.pop(key, [])
        for conn in idle:
            conn.close()

    def _keep(self, key: tuple[str, int], conn: _Conn) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.MAX_IDLE:
                conn.idle_since = time.monotonic()
                idle.append(conn)
                return
        conn.close()

    def call(self, addr: str, path: str, payload: Any = None, timeout: float = CALL_TIMEOUT) -> Any:
        host, port = split_host_port(addr, 4647)
        body = None if payload is None else json.dumps(payload).encode()
        method = "GET" if body is None else "POST"
        conn = self._kept((host, port))
        if conn is None:
            conn = _Conn(host, port, timeout, self.ctx, self.sni)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            status, data = resp.status, resp.read()
        except (http.client.RemoteDisconnected, ssl.SSLEOFError, ConnectionError):
            conn.close()
            self._clear((host, port))
            raise
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._keep((host, port), conn)
        if status != 200:
            raise ApiError(status, data.decode(errors="replace"))
        return json.loads(data or b"null")


def _closed_by_peer(sock: socket.socket | None) -> bool:
    """Whether the far side has closed (or broken) an idle kept connection: nothing may
    arrive on an idle HTTP/1.1 connection but TLS records without data (TLS 1.3 session
    tickets); an EOF, an alert or stray bytes make it unusable."""
    if sock is None:
        return True
    pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
    if not pending and not select.select([sock], [], [], 0)[0]:
        return False
    sock.setblocking(False)
    try:
        sock.recv(1)  # b"" (EOF) or stray bytes: unusable either way
        return True
    except (ssl.SSLWantReadError, BlockingIOError):
        return False  # only TLS records without application data
    except OSError:
        return True


class GossipError(Exception):
    pass


def seal(key: bytes | None, obj: Any) -> bytes:
    data = json.dumps(obj).encode()
    if key is None:
        return b"P" + data
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return b"E" + nonce + AESGCM(key).encrypt(nonce, data, b"serf")


def unseal(key: bytes | None, blob: bytes) -> Any:
    if not blob:
        raise GossipError("empty message")
    if blob[:1] == b"P":
        if key is not None:
            raise GossipError("Encryption is configured but remote state is not encrypted")
        return json.loads(blob[1:])
    if key is None:
        raise GossipError("Remote state is encrypted and encryption is not configured")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return json.loads(AESGCM(key).decrypt(blob[1:13], blob[13:], b"serf"))
    except InvalidTag:
        raise GossipError("failed to decrypt message: No installed keys could decrypt") from None


def response_from(reply: dict[str, Any]) -> Response:
    return Response(
        reply["status"], base64.b64decode(reply["body"]), reply["ctype"], reply.get("headers") or {}
    )
