"""The local proxy behind `nomadctl ui`, and the one-time token that signs the browser in.

The browser speaks plain HTTP to a listener on a loopback address of this machine; the
proxy forwards every request to one of the cluster's servers over mutual TLS (the cli
certificate, the server checked against the workspace's CA and `server.<region>.nomad`) and
streams the answer back as it comes, so that blocking queries (`?index=`, answered after up
to ten minutes) and the event stream (`/v1/event/stream`, newline-delimited JSON that never
ends) pass through as Nomad sends them.

Only requests addressed to the proxy itself are served (Host `127.0.0.1:<port>`,
`localhost:<port>` or `[::1]:<port>`, and no foreign Origin), so a web page elsewhere cannot
reach the cluster through it by DNS rebinding, a cross-site form or a WebSocket. WebSocket
upgrades (the UI's exec terminal) are passed through by cluster/ui_ws.py.

Sign-in is Nomad's own `nomad ui -authenticate` flow (cluster/ui_signin.py): the browser
opens the UI with `?ott=<one-time secret>` and the UI exchanges it once. A browser the
command starts gets an address of the proxy that answers once with a redirect to the
signed-in one (`UiProxy.launch`), so the secret is in no command line. The secret is never
logged; the `ott` parameter is dropped from UI page requests before they reach the cluster
(the page reads it from the address bar, the server has no use for it, and agents log
request URLs). The exchange's answer and refusals pass through `SignIn`, which recovers an
expired or used sign-in address and a token the cluster no longer accepts.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from nomadctl.cluster import ui_ws
from nomadctl.cluster.api import ApiTarget
from nomadctl.cluster.ui_signin import BODY_LIMIT, EXCHANGE_PATH, SignIn
from nomadctl.connfail import Reaching, failure_kind, unreachable_sentence
from nomadctl.errors import ClusterApiError, UsageError

CONNECT_TIMEOUT = 10.0
# A blocking query waits up to 10 minutes plus wait/16 of jitter (nomad/rpc.go blockingRPC);
# the event stream sends a heartbeat every 10 s. Longer silence than this is a dead server.
READ_TIMEOUT = 11 * 60.0
CHUNK = 64 * 1024
HOP_BY_HOP = ui_ws.HOP_BY_HOP
NO_BODY = {204, 304}
LAUNCH_PREFIX = "/nomadctl/open/"  # answered by the proxy itself, never forwarded


def loopback_address(value: str) -> str:
    """`value` when it is a loopback IP address (127.0.0.0/8 or ::1); anything else is refused:
    the proxy presents the cli certificate, so it must never be reachable from elsewhere."""
    try:
        addr = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        raise UsageError(
            f"--address: {value!r} is not an IP address; the proxy listens on a loopback "
            "address only (127.0.0.1 or ::1)"
        ) from None
    if not addr.is_loopback:
        raise UsageError(
            f"--address: {value} is not a loopback address; the proxy presents the cli "
            "certificate to the cluster, so it listens on 127.0.0.1 or ::1 only"
        )
    return str(addr)


@dataclass
class Upstream:
    """The cluster's servers over mutual TLS, tried in order until one accepts a connection."""

    target: ApiTarget
    _ctx: ssl.SSLContext | None = None
    _last_good: str | None = None  # tried first: a dead server costs one wait, not one a request

    def context(self) -> ssl.SSLContext | None:
        if self._ctx is None and any(a.startswith("https://") for a in self.target.addresses):
            ctx = ssl.create_default_context(cafile=self.target.ca_file)
            if self.target.client_cert:
                ctx.load_cert_chain(*self.target.client_cert)
            self._ctx = ctx
        return self._ctx

    def connect(self) -> http.client.HTTPConnection:
        """A connection to the first server that answers, its socket set for long polls."""
        failures: list[tuple[str, tuple[str, str]]] = []
        first = [a for a in self.target.addresses if a == self._last_good]
        for address in [*first, *(a for a in self.target.addresses if a not in first)]:
            parts = urlsplit(address)
            host, secure = parts.hostname or "", parts.scheme == "https"
            port = parts.port or (443 if secure else 80)
            conn = _Connection(host, port, self.context() if secure else None, self._sni(host))
            try:
                conn.connect()
            except (OSError, ssl.SSLError) as exc:
                conn.close()
                failures.append((address, failure_kind(exc)))
                continue
            assert conn.sock is not None
            conn.sock.settimeout(READ_TIMEOUT)
            self._last_good = address
            return conn
        groups: dict[tuple[str, str], list[str]] = {}
        for address, kind in failures:
            groups.setdefault(kind, []).append(address)
        reaching = Reaching(CONNECT_TIMEOUT, self.target.ca_file, self.target.source != "workspace")
        raise ClusterApiError(
            "; ".join(unreachable_sentence(k, d, a, reaching) for (k, d), a in groups.items())
        )

    def _sni(self, host: str) -> str:
        return self.target.server_name or host


class _Connection(http.client.HTTPConnection):
    """HTTP, or HTTPS that checks `sni` in the certificate whatever address it dials."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext | None, sni: str) -> None:
        super().__init__(host, port, timeout=CONNECT_TIMEOUT)
        self._ctx, self._sni = ctx, sni

    def connect(self) -> None:
        super().connect()
        if self._ctx is not None:
            self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._sni)


class UiProxy(ThreadingHTTPServer):
    """The listener; each browser connection is served in its own thread."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(
        self,
        upstream: Upstream,
        address: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        address = loopback_address(address)
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.upstream, self.log = upstream, log
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        try:
            super().__init__((address, port), _Handler)
        except OSError as exc:
            raise UsageError(
                f"--port: cannot listen on {address}:{port}: {exc.strerror or exc}"
            ) from None
        self.port = self.server_address[1]
        host = f"[{address}]" if ":" in address else address
        self.base_url = f"http://{host}:{self.port}"
        self.allowed_hosts = {f"{h}:{self.port}" for h in (host, "localhost", "127.0.0.1", "[::1]")}
        self._launches: dict[str, str] = {}
        self.signin = SignIn(self.base_url)  # the command sets one that can mint tokens

    def launch(self, url: str) -> str:
        """An address that sends the browser on to `url` once (a 303), for the browser
        launcher's command line: `url` carries the one-time secret, and a command line is
        readable by every user of the machine (/proc), this address is spent once opened."""
        path = LAUNCH_PREFIX + secrets.token_urlsafe(16)
        with self._lock:
            self._launches[path] = url
        return self.base_url + path

    def take_launch(self, path: str) -> str | None:
        with self._lock:
            return self._launches.pop(path, None)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.2,), name="nomadctl-ui-proxy", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, end the streams still open (long polls, event streams), close."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def track(self, conn: http.client.HTTPConnection, add: bool) -> None:
        with self._lock:
            (self._open.add if add else self._open.discard)(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that went away mid-answer; nothing to report


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: UiProxy
    _answered = False  # the cluster's status line has gone to the browser

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines carry the one-time secret: never logged

    def _refuse(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refusal(self) -> tuple[int, str] | None:
        """Why this request is not forwarded (status, text), or None."""
        host = (self.headers.get("Host") or "").lower()
        if host not in self.server.allowed_hosts:
            return 403, "this proxy answers only requests addressed to it (Host header)"
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower().removeprefix("http://") not in (
            self.server.allowed_hosts
        ):
            return 403, "cross-origin requests are refused"
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return 411, "chunked request bodies are not supported"
        if self.headers.get("Upgrade") and not ui_ws.is_websocket(self.headers):
            return 501, "only WebSocket upgrades are passed through this proxy"
        return None

    def _serve(self) -> None:
        refusal = self._refusal()
        if refusal is not None:
            self.close_connection = True
            self._refuse(*refusal)
            return
        if self.path.startswith(LAUNCH_PREFIX):
            self._launch()
            return
        if ui_ws.is_websocket(self.headers):
            self.close_connection = True
            self._websocket()
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._refuse(400, "bad Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
        try:
            conn = self.server.upstream.connect()
        except ClusterApiError as exc:
            self.server.log(f"{self.command} {urlsplit(self.path).path}: {exc.message}")
            self._refuse(502, exc.message)
            return
        self.server.track(conn, True)
        self._answered = False
        try:
            self._forward(conn, _upstream_path(self.path), body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close_connection = True
            what = f"{self.command} {urlsplit(self.path).path}"
            self.server.log(f"{what}: {type(exc).__name__}")
            if not self._answered:  # nothing sent yet: the browser still gets one line
                with contextlib.suppress(OSError):
                    self._refuse(502, f"the cluster did not answer {what} ({type(exc).__name__})")
        finally:
            self.server.track(conn, False)
            conn.close()

    def _websocket(self) -> None:
        """The upgrade on to the cluster; after its 101 both connections are joined."""
        what = f"WebSocket {urlsplit(self.path).path}"
        try:
            conn = self.server.upstream.connect()
        except ClusterApiError as exc:
            self.server.log(f"{what}: {exc.message}")
            self._refuse(502, exc.message)
            return
        assert conn.sock is not None
        sock = conn.sock
        self.server.track(conn, True)
        self._answered = False
        try:
            host = f"[{conn.host}]" if ":" in conn.host else conn.host
            sock.sendall(
                ui_ws.upgrade_request(
                    self.path,
                    self.headers.items(),
                    f"{host}:{conn.port}",
                    with_origin=self.headers.get("Origin") is not None,
                )
            )
            status, reason, headers, rest = ui_ws.read_head(sock)
            if status != 101:  # refused by the cluster: its answer, as it came
                body = ui_ws.read_body(sock, headers, rest)
                self._answered = True
                self.send_response_only(status, reason)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._answered = True
            self.send_response_only(101, reason)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
            ui_ws.relay(self.connection, _buffered(self.rfile, self.connection), sock, rest)
        except (OSError, http.client.HTTPException) as exc:
            self.server.log(f"{what}: {type(exc).__name__}")
            if not self._answered:
                with contextlib.suppress(OSError):
                    self._refuse(502, f"the cluster did not answer {what} ({type(exc).__name__})")
        finally:
            self.server.track(conn, False)
            conn.close()

    def _launch(self) -> None:
        target = self.server.take_launch(self.path) if self.command == "GET" else None
        if target is None:
            self._refuse(410, "this sign-in address was used already; run `nomadctl ui` again")
            return
        self.send_response_only(303)
        self.send_header("Location", target)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _forward(
        self,
        conn: http.client.HTTPConnection,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
    ) -> None:
        """Send the cluster's answer on as it comes. The exchange's answer and refusals
        (small) are read whole and shown to the sign-in watch first, so that a new sign-in
        address is out before the browser has its answer."""
        conn.request(self.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        self._answered = True
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP | {"content-length"}:
                self.send_header(name, value)
        if self.command == "HEAD" or resp.status in NO_BODY or resp.status < 200:
            self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
            self.end_headers()
            return
        length = resp.getheader("Content-Length")
        watched = resp.status >= 400 or urlsplit(self.path).path == EXCHANGE_PATH
        if length is not None and length.isdigit() and not resp.chunked:
            self.send_header("Content-Length", length)
            self.end_headers()
            if watched and int(length) <= BODY_LIMIT:
                kept = resp.read()
                self._watch(body, resp.status, kept)
                self.wfile.write(kept)
                return
            _copy(resp, self.wfile.write, self.wfile.flush)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        _copy(
            resp,
            lambda data: self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data)),
            self.wfile.flush,
        )
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _watch(self, body: bytes | None, status: int, answer: bytes) -> None:
        if urlsplit(self.path).path == EXCHANGE_PATH:
            self.server.signin.exchanged(body or b"", status, answer)
        else:
            self.server.signin.answered(_token(self.headers), status, answer)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve


def _copy(
    resp: http.client.HTTPResponse, write: Callable[[bytes], Any], flush: Callable[[], None]
) -> None:
    """Each piece of the answer on to the browser as soon as it arrives (read1 returns what
    one read brings, so an event-stream line is not held back waiting for more)."""
    while True:
        data = resp.read1(CHUNK)
        if not data:
            return
        write(data)
        flush()


def _token(headers: Any) -> str:
    """The request's ACL token, as Nomad reads it (X-Nomad-Token, else a Bearer token)."""
    token = headers.get("X-Nomad-Token") or ""
    auth = headers.get("Authorization") or ""
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token


def _buffered(rfile: Any, sock: socket.socket) -> bytes:
    """What the browser sent past its handshake that sits in the handler's read buffer
    already (a read that would block yields nothing: the socket is non-blocking for it)."""
    sock.setblocking(False)
    try:
        return rfile.read1(CHUNK) or b""
    except OSError:
        return b""
    finally:
        sock.setblocking(True)


def _upstream_path(raw: str) -> str:
    """The request's path for the cluster: UI pages lose their `ott` parameter."""
    parts = urlsplit(raw)
    if not parts.path.startswith("/ui/") or "ott" not in parts.query:
        return raw
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ott"]
    return parts.path + (f"?{urlencode(kept)}" if kept else "")
