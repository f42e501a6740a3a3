"""The proxy's WebSocket pass-through: the UI's exec terminal, over the cli certificate.

Nomad's UI opens `ws://<its own host>/v1/client/allocation/<id>/exec?...&ws_handshake=true`
(ui/app/services/sockets.js, Nomad v1.10.5) and speaks JSON frames over it; the agent
upgrades with gorilla/websocket's default Upgrader (command/agent/http.go: no CheckOrigin),
whose checkSameOrigin (server.go, v1.5.3) refuses with 403 an `Origin` whose host is not the
request's `Host`. The proxy has already refused a browser Origin other than its own (a page
of another site must not drive `exec` with the user's certificate: a WebSocket has no CORS
to stop it), so it forwards the upgrade with `Host` and `Origin` both naming the server it
dialled, as a browser on that server's own UI would send them. After the server's 101 the
two connections are joined byte for byte (frames, masks and the closing handshake are the
ends' business) until either side closes; any other answer is passed on as it came.

One thread relays both directions with select, since an SSL socket must not be read and
written by two threads at once.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
from collections.abc import Iterable

HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
# Hop-by-hop headers (RFC 9110 7.6.1, and the proxy-* ones): never passed on by a proxy.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
# Hop-by-hop, or set here: everything else the browser sent (Sec-WebSocket-Key, -Version,
# -Protocol, -Extensions, X-Nomad-Token, Cookie, User-Agent) goes on as it is.
NOT_FORWARDED = HOP_BY_HOP | {"host", "origin", "content-length"}


def is_websocket(headers: http.client.HTTPMessage) -> bool:
    """A WebSocket opening handshake (RFC 6455 4.1): Upgrade: websocket."""
    return "websocket" in _tokens(headers.get_all("Upgrade") or [])


def upgrade_request(
    path: str, headers: Iterable[tuple[str, str]], upstream_host: str, with_origin: bool
) -> bytes:
    """The handshake as the cluster gets it: Host and (when the browser sent one) Origin
    name the server dialled, so gorilla's same-origin check passes as for Nomad's own UI."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {upstream_host}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in NOT_FORWARDED]
    lines += ["Connection: Upgrade", "Upgrade: websocket"]
    if with_origin:
        lines.append(f"Origin: https://{upstream_host}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_head(sock: socket.socket) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """The server's status line and headers, and whatever came after them (the first
    frames may share a packet with the 101)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(CHUNK)
        if not data:
            raise http.client.RemoteDisconnected("the cluster closed the connection")
        buf += data
        if len(buf) > HEAD_LIMIT:
            raise http.client.LineTooLong("the cluster's answer head")
    head, rest = buf.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise http.client.BadStatusLine(status_line[:80])
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise http.client.HTTPException("a malformed header in the cluster's answer")
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, rest


def read_body(sock: socket.socket, headers: list[tuple[str, str]], rest: bytes) -> bytes:
    """The body of a refusal (Nomad's answers to a failed upgrade carry a Content-Length)."""
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    if length is None or not length.isdigit() or int(length) > HEAD_LIMIT:
        raise http.client.HTTPException("a refusal without a usable Content-Length")
    body = rest
    while len(body) < int(length):
        data = sock.recv(CHUNK)
        if not data:
            break
        body += data
    return body[: int(length)]


def relay(
    browser: socket.socket,
    early: bytes,
    cluster: socket.socket,
    rest: bytes,
) -> None:
    """Join the two connections until either end closes (or the proxy stops): `early` is
    what the browser sent past its handshake, `rest` what the cluster sent past its 101.
    The proxy's close shuts the cluster's socket down, which ends the loop too."""
    if early:
        cluster.sendall(early)
    if rest:
        browser.sendall(rest)
    browser.settimeout(None)
    cluster.settimeout(None)
    pairs = {browser: cluster, cluster: browser}
    try:
        while True:
            pending = isinstance(cluster, ssl.SSLSocket) and cluster.pending() > 0
            ready = [cluster] if pending else select.select(list(pairs), [], [])[0]
            for src in ready:
                data = src.recv(CHUNK)
                if not data:
                    return
                pairs[src].sendall(data)
    except OSError:
        return  # either end went away: the other is closed below
    finally:
        for sock in (browser, cluster):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _tokens(values: Iterable[str]) -> set[str]:
    return {t.strip().lower() for v in values for t in v.split(",")}
