"""cluster.ui_proxy against a real mutual-TLS HTTP server on loopback (issue 26 point 7).

The upstream is a small https server that demands a client certificate from the test CA,
as a Nomad agent with `verify_https_client` does; it answers the shapes that matter to a
proxy: an event stream whose second line is only sent after the first has reached the
browser's side, a blocking query answered late, and a UI page whose query it records.
"""

from __future__ import annotations

import datetime
import http.client
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from nomadctl.cluster.api import ApiTarget
from nomadctl.cluster.ui_proxy import UiProxy, Upstream, loopback_address
from nomadctl.cluster.ui_signin import SignIn, SignInEvent, one_time_token, sign_in_url
from nomadctl.errors import UsageError
from tests.standin.certs import make_ca, make_cert


@dataclass
class Seen:
    paths: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    go: threading.Event = field(default_factory=threading.Event)  # the stream may go on
    ott_ttl: float = 600.0  # seconds a one-time token issued now lasts (Nomad: 10 minutes)
    otts: dict[str, tuple[float, str]] = field(default_factory=dict)  # secret -> (end, token)
    gone: set[str] = field(default_factory=set)  # ACL tokens deleted from the cluster
    upgrades: list[dict[str, str]] = field(default_factory=list)  # WebSocket handshakes


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        """One-time tokens as Nomad's acl_endpoint.go: issued for a known token, exchanged
        once before ExpiresAt for that token, else 403 "Permission denied"."""
        seen: Seen = self.server.seen
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = self.headers.get("X-Nomad-Token") or ""
        seen.paths.append(self.path)
        if self.path == "/v1/acl/token/onetime" and token and token not in seen.gone:
            secret, end = str(uuid.uuid4()), time.time() + seen.ott_ttl
            seen.otts[secret] = (end, token)
            stamp = datetime.datetime.fromtimestamp(end, datetime.UTC).isoformat()
            ott = {"OneTimeSecretID": secret, "AccessorID": "acc", "ExpiresAt": stamp}
            self._answer(200, json.dumps({"OneTimeToken": ott}).encode())
            return
        if self.path == "/v1/acl/token/onetime/exchange":
            end, owner = seen.otts.pop(json.loads(body)["OneTimeSecretID"], (0.0, ""))
            if end > time.time() and owner not in seen.gone:
                self._answer(200, json.dumps({"Token": {"SecretID": owner}}).encode())
                return
        self._answer(403, b"Permission denied", "text/plain")

    do_POST = do_PUT

    def do_GET(self) -> None:
        seen: Seen = self.server.seen
        seen.paths.append(self.path)
        seen.tokens.append(self.headers.get("X-Nomad-Token") or "")
        if self.headers.get("X-Nomad-Token") in seen.gone:
            self._answer(403, b"ACL token not found", "text/plain")
            return
        if self.headers.get("Upgrade"):  # refused as gorilla's Upgrader writes it, plus wrap()
            seen.upgrades.append({k.lower(): v for k, v in self.headers.items()})
            self._answer(400, b"Bad Request\nfailed to upgrade connection: test", "text/plain")
            return
        cert = self.connection.getpeercert() or {}  # type: ignore[attr-defined]
        seen.peers.append(dict(x[0] for x in cert.get("subject", ()))["commonName"])
        if self.path.startswith("/v1/event/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in (b'{"Index":1}\n', b'{"Index":2}\n'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                assert seen.go.wait(30), "the first line never reached the proxy's client"
            self.wfile.write(b"0\r\n\r\n")
            return
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Nomad-Index", "42")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class MtlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx, self.seen = ctx, Seen()
        super().__init__(("127.0.0.1", 0), _Upstream)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True), addr


@dataclass
class Parts:
    server: MtlsServer
    target: ApiTarget
    other_ca: Path


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    ca = make_ca(tmp_path / "ca")
    srv = make_cert(ca, tmp_path / "server", "server")
    cli = make_cert(ca, tmp_path / "cli", "cli")
    other = make_ca(tmp_path / "other")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(srv.cert, srv.key)
    ctx.verify_mode = ssl.CERT_REQUIRED  # verify_https_client: no certificate, no answer
    ctx.load_verify_locations(ca.cert)
    server = MtlsServer(ctx)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    target = ApiTarget(
        addresses=[f"https://127.0.0.1:{server.server_address[1]}"],
        ca_file=str(ca.cert),
        client_cert=(str(cli.cert), str(cli.key)),
        server_name="server.global.nomad",
        token="11111111-2222-3333-4444-555555555555",
    )
    try:
        yield Parts(server, target, other.cert)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def proxy(parts: Parts) -> Iterator[UiProxy]:
    p = UiProxy(Upstream(parts.target))
    p.start()
    try:
        yield p
    finally:
        p.close()


def get(
    proxy: UiProxy, path: str, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse(), conn


def test_requests_reach_the_cluster_with_the_cli_certificate(parts: Parts, proxy: UiProxy) -> None:
    resp, conn = get(proxy, "/v1/jobs?index=41&wait=5m", {"X-Nomad-Token": "t-1"})
    assert resp.status == 200 and resp.getheader("X-Nomad-Index") == "42"
    assert json.loads(resp.read()) == {"path": "/v1/jobs?index=41&wait=5m"}
    conn.close()
    assert parts.server.seen.peers == ["cli.global.nomad"]  # the proxy's certificate, not ours
    assert parts.server.seen.tokens == ["t-1"]  # the browser's token passes as it is


def test_event_stream_is_passed_on_line_by_line(parts: Parts, proxy: UiProxy) -> None:
    resp, conn = get(proxy, "/v1/event/stream?topic=Job")
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    first = resp.read1(1024)  # the upstream holds line 2 back until this has arrived
    assert first == b'{"Index":1}\n'
    parts.server.seen.go.set()
    assert resp.read() == b'{"Index":2}\n'
    conn.close()


def test_the_one_time_secret_stays_out_of_the_clusters_request_line(
    parts: Parts, proxy: UiProxy
) -> None:
    resp, conn = get(proxy, "/ui/settings/tokens?ott=SECRET-1&region=global")
    resp.read()
    conn.close()
    assert parts.server.seen.paths == ["/ui/settings/tokens?region=global"]
    assert "SECRET" not in json.dumps(parts.server.seen.paths)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example:80"}, 403),  # DNS rebinding: a foreign name at 127.0.0.1
        ({"Origin": "http://evil.example"}, 403),  # a page elsewhere posting to the proxy
        ({"Connection": "Upgrade", "Upgrade": "h2c"}, 501),  # only WebSocket is passed
        # The exec terminal from a page of another site: refused before the cluster.
        ({"Connection": "Upgrade", "Upgrade": "websocket", "Origin": "http://evil.example"}, 403),
        ({"Content-Length": "x"}, 400),
    ],
)
def test_requests_not_addressed_to_the_proxy_are_refused(
    parts: Parts, proxy: UiProxy, headers: dict[str, str], status: int
) -> None:
    resp, conn = get(proxy, "/v1/jobs", headers)
    assert resp.status == status
    resp.read()
    conn.close()
    assert parts.server.seen.paths == []  # nothing reached the cluster


def test_a_cluster_with_another_ca_is_refused_in_one_line(parts: Parts) -> None:
    target = ApiTarget(**{**parts.target.__dict__, "ca_file": str(parts.other_ca)})
    p = UiProxy(Upstream(target))
    p.start()
    try:
        resp, conn = get(p, "/v1/jobs")
        text = resp.read().decode()
        conn.close()
    finally:
        p.close()
    assert resp.status == 502
    assert "not trusted by" in text and "\n" not in text.strip()
    assert parts.server.seen.paths == []


@pytest.mark.parametrize("value", ["127.0.0.1", "127.0.0.2", "::1", "[::1]"])
def test_loopback_addresses_are_accepted(value: str) -> None:
    assert loopback_address(value) in ("127.0.0.1", "127.0.0.2", "::1")


@pytest.mark.parametrize("value", ["0.0.0.0", "::", "198.18.0.1", "localhost", "10.0.0.1"])
def test_anything_but_loopback_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="--address"):
        loopback_address(value)


def test_sign_in_url_is_the_token_page_with_the_secret(proxy: UiProxy) -> None:
    from nomadctl.cluster.ui_signin import OneTimeToken

    ott = OneTimeToken("aa-bb", "acc", "2026-01-01T00:00:00Z")
    assert sign_in_url(proxy.base_url, ott) == f"{proxy.base_url}/ui/settings/tokens?ott=aa-bb"
    assert "aa-bb" not in repr(ott)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_server_is_skipped_and_the_live_one_kept(parts: Parts) -> None:
    dead = f"https://127.0.0.1:{_closed_port()}"
    live = parts.target.addresses[0]
    upstream = Upstream(ApiTarget(**{**parts.target.__dict__, "addresses": [dead, live]}))
    p = UiProxy(upstream)
    p.start()
    try:
        for _ in range(2):
            resp, conn = get(p, "/v1/jobs")
            assert resp.status == 200
            resp.read()
            conn.close()
    finally:
        p.close()
    assert upstream._last_good == live


def test_no_server_answering_is_one_line_for_the_browser_and_the_token(parts: Parts) -> None:
    from nomadctl.cluster.ui_signin import one_time_token
    from nomadctl.errors import ClusterApiError

    dead = f"https://127.0.0.1:{_closed_port()}"
    upstream = Upstream(ApiTarget(**{**parts.target.__dict__, "addresses": [dead]}))
    with pytest.raises(ClusterApiError, match="refused the connection") as err:
        one_time_token(upstream, parts.target.token or "")
    assert parts.target.token not in str(err.value)
    p = UiProxy(upstream)
    p.start()
    try:
        resp, conn = get(p, "/v1/jobs")
        text = resp.read().decode()
        conn.close()
    finally:
        p.close()
    assert resp.status == 502 and "refused the connection" in text


def signed_in_proxy(parts: Parts, events: list[SignInEvent], held: list[str]) -> UiProxy:
    """A proxy whose sign-in mints with the last token of `held` (what the workspace holds)."""
    upstream = Upstream(parts.target)
    p = UiProxy(upstream)
    p.signin = SignIn(
        p.base_url, lambda: held[-1], lambda t: one_time_token(upstream, t), events.append
    )
    p.start()
    return p


def secret_of(url: str | None) -> str:
    assert url is not None
    return parse_qs(urlsplit(url).query)["ott"][0]


def call(proxy: UiProxy, method: str, path: str, token: str = "", body: object = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"X-Nomad-Token": token})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def exchange(proxy: UiProxy, secret: str) -> tuple[int, bytes]:
    return call(proxy, "POST", "/v1/acl/token/onetime/exchange", "", {"OneTimeSecretID": secret})  # type: ignore[no-any-return]


def test_an_expired_sign_in_address_brings_a_new_one_on_the_terminal(parts: Parts) -> None:
    """Nomad's one-time token lasts 10 minutes, fixed: opened later, the UI gets Nomad's 403,
    and the proxy hands a new address to the command (never to the browser)."""
    events: list[SignInEvent] = []
    held = [parts.target.token or ""]
    p = signed_in_proxy(parts, events, held)
    try:
        parts.server.seen.ott_ttl = -1.0  # issued already past its ExpiresAt
        first = p.signin.first()
        parts.server.seen.ott_ttl = 600.0
        assert exchange(p, secret_of(first)) == (403, b"Permission denied")
        assert [(e.reason, e.error) for e in events] == [("expired", None)]
        renewed = secret_of(events[0].url)
        assert renewed != secret_of(first) and events[0].url.startswith(p.base_url)  # type: ignore[union-attr]
        status, body = exchange(p, renewed)
        assert status == 200 and json.loads(body)["Token"]["SecretID"] == held[0]
        # A refused exchange of a secret the proxy never handed out changes nothing.
        assert exchange(p, str(uuid.uuid4()))[0] == 403
        assert len(events) == 1
        assert renewed not in repr(events)
    finally:
        p.close()


def test_a_used_address_and_a_deleted_token_lead_to_a_new_sign_in(parts: Parts) -> None:
    events: list[SignInEvent] = []
    held = [parts.target.token or ""]
    p = signed_in_proxy(parts, events, held)
    try:
        first = secret_of(p.signin.first())
        assert exchange(p, first)[0] == 200
        assert exchange(p, first) == (403, b"Permission denied")  # opened a second time
        assert [e.reason for e in events] == ["used"] and events[0].url

        # The browser's token is deleted from the cluster (it is also the held one): the
        # UI gets Nomad's answer, the command a reason, once, not at every poll of the UI.
        parts.server.seen.gone.add(held[0])
        for _ in range(2):
            assert call(p, "GET", "/v1/jobs", held[0]) == (403, b"ACL token not found")
        assert [(e.reason, e.detail, e.url) for e in events[1:]] == [
            ("token-gone", "ACL token not found", None)
        ]
        assert "acl-bootstrap" in (events[1].error or "")

        # `nomadctl acl-bootstrap` saves a new token: the next refused request signs in anew.
        held.append("22222222-3333-4444-5555-666666666666")
        assert call(p, "GET", "/v1/jobs", held[0])[0] == 403
        assert call(p, "GET", "/v1/jobs", held[0])[0] == 403
        assert [e.reason for e in events] == ["used", "token-gone", "token-gone"]
        status, body = exchange(p, secret_of(events[2].url))
        assert status == 200 and json.loads(body)["Token"]["SecretID"] == held[1]
        # A token that never signed in here, refused: not the proxy's business.
        parts.server.seen.gone.add("33333333-3333-4444-5555-666666666666")
        call(p, "GET", "/v1/jobs", "33333333-3333-4444-5555-666666666666")
        assert len(events) == 3
    finally:
        p.close()


def test_a_websocket_upgrade_goes_on_as_from_the_servers_own_origin(
    parts: Parts, proxy: UiProxy
) -> None:
    """gorilla/websocket (Nomad's Upgrader) refuses an Origin whose host is not the request's
    Host: the proxy sends both as the server dialled. A refusal comes back as it was."""
    headers = {
        "Host": f"127.0.0.1:{proxy.port}",
        "Origin": f"http://127.0.0.1:{proxy.port}",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    resp, conn = get(proxy, "/v1/client/allocation/x/exec?ws_handshake=true", headers)
    assert (resp.status, resp.read()) == (400, b"Bad Request\nfailed to upgrade connection: test")
    conn.close()
    [seen] = parts.server.seen.upgrades
    upstream = parts.target.addresses[0].removeprefix("https://")
    assert (seen["host"], seen["origin"]) == (upstream, f"https://{upstream}")
    assert seen["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="
    assert "websocket" in seen["upgrade"] and "upgrade" in seen["connection"].lower()
