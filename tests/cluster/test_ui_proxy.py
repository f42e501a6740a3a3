"""cluster.ui_proxy against a real mutual-TLS HTTP server on loopback (issue 26 point 7).

The upstream is a small https server that demands a client certificate from the test CA,
as a Nomad agent with `verify_https_client` does; it answers the shapes that matter to a
proxy: an event stream whose second line is only sent after the first has reached the
browser's side, a blocking query answered late, and a UI page whose query it records.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nomadctl.cluster.api import ApiTarget
from nomadctl.cluster.ui_proxy import UiProxy, Upstream, loopback_address, sign_in_url
from nomadctl.errors import UsageError
from tests.standin.certs import make_ca, make_cert


@dataclass
class Seen:
    paths: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    go: threading.Event = field(default_factory=threading.Event)  # the stream may go on


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        seen: Seen = self.server.seen
        seen.paths.append(self.path)
        seen.tokens.append(self.headers.get("X-Nomad-Token") or "")
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
    from nomadctl.cluster.ui_proxy import OneTimeToken

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
    from nomadctl.cluster.ui_proxy import one_time_token
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
