"""Issue 28 point 9: no environment variable decides what a request to a workspace cluster
carries. A capturing HTTPS server on loopback (real TLS, client certificate required)
records every request nomadctl's API layer sends for each endpoint it calls, with every
NOMAD_* variable (and the proxy/CA variables requests would read) set to another cluster's
values: each request carries exactly the target's token, region and client certificate,
and no namespace. Failed on the main of 2026-12-07 (b311992): `client.status.leader` (the
leader poll of `up`) sent NOMAD_TOKEN and NOMAD_NAMESPACE from the shell."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from nomadctl.cluster import operations
from nomadctl.cluster.api import Api, ApiTarget
from tests.standin.certs import make_ca, make_cert

MINE = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
OTHER = "9d1c0f4e-7a6b-4c3d-8e2f-1a0b9c8d7e6f"
NODE = "0b7e4a9c-1f2d-4c3b-8a5e-6d7f8091a2b3"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    token: str | None
    client_cn: str


@dataclass
class Capture:
    url: str
    ca: Path
    cli: tuple[str, str]
    other_cli: tuple[str, str]
    seen: list[Seen] = field(default_factory=list)


ANSWERS: dict[str, Any] = {
    "/v1/status/leader": "127.0.0.1:4647",
    "/v1/agent/members": {"Members": [{"Name": "server-1.global", "Status": "alive"}]},
    "/v1/nodes": [],
    "/v1/acl/bootstrap": {"SecretID": MINE, "AccessorID": NODE},
    "/v1/acl/token/self": {"SecretID": MINE},
    "/v1/acl/policy/jobs": {"Rules": ""},
    "/v1/acl/token": {"SecretID": MINE},
    f"/v1/node/{NODE}": {"ID": NODE},
    f"/v1/node/{NODE}/eligibility": {"Index": 1},
    f"/v1/node/{NODE}/drain": {"Index": 2},
    f"/v1/node/{NODE}/allocations": [],
    "/v1/operator/autopilot/health": {"Healthy": True, "FailureTolerance": 1, "Servers": []},
    "/v1/operator/raft/configuration": {"Servers": []},
}


def _handler(capture: Capture) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            parts = urlsplit(self.path)
            peer = self.connection.getpeercert() or {}  # type: ignore[attr-defined]
            cn = dict(x[0] for x in peer.get("subject", ())).get("commonName", "")
            capture.seen.append(
                Seen(self.command, parts.path, parse_qs(parts.query),
                     self.headers.get("X-Nomad-Token"), cn)
            )  # fmt: skip
            body = json.dumps(ANSWERS.get(parts.path, {})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    ca = make_ca(tmp_path / "ca")
    server = make_cert(ca, tmp_path / "server", "server", ips=("127.0.0.1",))
    cli = make_cert(ca, tmp_path / "cli", "cli", common_name="cli.global.nomad")
    stranger = make_ca(tmp_path / "other-ca")
    other = make_cert(stranger, tmp_path / "other", "cli", common_name="other-cluster")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.cert))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(server.cert), str(server.key))
    cap = Capture("", ca.cert, (str(cli.cert), str(cli.key)), (str(other.cert), str(other.key)))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cap))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    cap.url = f"https://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield cap
    finally:
        httpd.shutdown()
        httpd.server_close()


CALLS: dict[str, Callable[[Api], Any]] = {
    "leader": lambda api: api.leader(),
    "leader of a region": lambda api: api.leader("global"),
    "wait_for_leader": lambda api: api.wait_for_leader(5),
    "members": lambda api: api.members(),
    "nodes": lambda api: api.nodes(),
    "bootstrap": lambda api: api.bootstrap(),
    "bootstrap with a secret": lambda api: api.bootstrap(MINE),
    "token_self": lambda api: api.token_self(),
    "policy_rules": lambda api: api.policy_rules("jobs"),
    "create_policy": lambda api: api.create_policy("jobs", "d", 'namespace "*" {}'),
    "create_token": lambda api: api.create_token("user", ["jobs"]),
    "node": lambda api: operations.node(api, NODE),
    "set_eligibility": lambda api: operations.set_eligibility(api, NODE, False),
    "start_drain": lambda api: operations.start_drain(api, NODE, 60.0),
    "stop_drain": lambda api: operations.stop_drain(api, NODE, True),
    "allocations": lambda api: operations._running_allocs(api, NODE),
    "autopilot_health": lambda api: operations.autopilot_health(api),
    "raft_servers": lambda api: operations.raft_servers(api),
    "remove_raft_peer": lambda api: operations.remove_raft_peer(api, NODE),
    "force_leave": lambda api: operations.force_leave(api, "server-1.global"),
    "members (operations)": lambda api: operations.members(api),
}


@pytest.mark.parametrize("token", [MINE, None], ids=["token", "no-token-yet"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_every_request_carries_exactly_the_targets_credentials(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, call: str, token: str | None
) -> None:
    """With a token, and without one (`up`'s leader poll before the ACL bootstrap, where the
    shell's NOMAD_TOKEN used to fill the gap); with a region, and without one."""
    for name, value in {
        "NOMAD_ADDR": "https://127.0.0.1:9",
        "NOMAD_TOKEN": OTHER,
        "NOMAD_NAMESPACE": "someone-elses",
        "NOMAD_REGION": "elsewhere",
        "NOMAD_CACERT": "/nonexistent/ca.pem",
        "NOMAD_CAPATH": "/nonexistent",
        "NOMAD_CLIENT_CERT": capture.other_cli[0],
        "NOMAD_CLIENT_KEY": capture.other_cli[1],
        "NOMAD_TLS_SERVER_NAME": "elsewhere.example",
        "NOMAD_SKIP_VERIFY": "true",
        "NOMAD_HTTP_AUTH": "user:password",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "REQUESTS_CA_BUNDLE": "/nonexistent/bundle.pem",
    }.items():
        monkeypatch.setenv(name, value)
    target = ApiTarget(
        addresses=[capture.url],
        ca_file=str(capture.ca),
        client_cert=capture.cli,
        token=token,
        region="global" if token else None,
    )
    CALLS[call](Api(target))
    assert capture.seen, f"{call}: nothing reached the server"
    for seen in capture.seen:
        where = f"{call}: {seen.method} {seen.path}"
        assert seen.token == token, where
        assert seen.client_cn == "cli.global.nomad", where
        assert "namespace" not in seen.query, (where, seen.query)
        if token:
            assert seen.query.get("region") == ["global"], (where, seen.query)
        elif call != "leader of a region":  # that one names its region itself
            assert "region" not in seen.query, (where, seen.query)
