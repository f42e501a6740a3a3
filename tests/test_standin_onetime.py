"""The stand-in's one-time tokens answer as Nomad v1.10.5's do (tests/standin/agent/onetime.py):
PUT|POST only, the caller's own token, ten minutes, exchanged once for the ACL token, every
one-time token of that ACL token gone with the exchange; `/` sends the browser to `/ui/`."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from nomadctl.cluster.target import workspace_target
from nomadctl.workspace import Workspace
from tests.providers.local.test_local_cli import agent_pids, nomadctl
from tests.standin import make_binary


class Agent:
    """The cluster's HTTP API with the workspace's cli certificate, as http.client sees it."""

    def __init__(self, home: Path) -> None:
        target = workspace_target(Workspace(home, "lc"))
        self.admin = target.token or ""
        self.user = workspace_target(Workspace(home, "lc"), token_kind="user").token or ""
        self.addr = urlsplit(target.addresses[0])
        self.ctx = ssl.create_default_context(cafile=target.ca_file)
        assert target.client_cert is not None
        self.ctx.load_cert_chain(*target.client_cert)
        self.ctx.check_hostname = False  # the address is an IP; the chain is still checked

    def call(
        self, method: str, path: str, token: str = "", body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        conn = http.client.HTTPSConnection(
            self.addr.hostname or "", self.addr.port, context=self.ctx, timeout=30
        )
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        conn.request(method, path, body=data, headers={"X-Nomad-Token": token} if token else {})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode()
        return resp.status, parsed, dict(resp.getheaders())


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    tmp = tmp_path_factory.mktemp("ott")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    try:
        up = nomadctl(
            home, "up", "--local", "--nomad-binary", str(binary), "--servers", "1",
            "--clients", "0", "--yes",
        )  # fmt: skip
        assert up.returncode == 0, up.stderr
        yield Agent(home)
    finally:
        nomadctl(home, "down", "--yes")
        for pid in agent_pids(binary):
            os.kill(pid, 9)


def test_upsert_needs_a_known_token_and_lasts_ten_minutes(agent: Agent) -> None:
    assert agent.call("GET", "/v1/acl/token/onetime", agent.user)[:2] == (405, "Invalid method")
    assert agent.call("PUT", "/v1/acl/token/onetime")[:2] == (403, "Permission denied")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert agent.call("PUT", "/v1/acl/token/onetime", unknown)[:2] == (403, "Permission denied")
    before = dt.datetime.now(dt.UTC)
    status, reply, headers = agent.call("PUT", "/v1/acl/token/onetime", agent.user)
    after = dt.datetime.now(dt.UTC)
    assert status == 200 and set(reply) == {"OneTimeToken", "Index"}
    ott = reply["OneTimeToken"]
    assert set(ott) == {"OneTimeSecretID", "AccessorID", "ExpiresAt", "CreateIndex", "ModifyIndex"}
    assert headers["X-Nomad-Index"] == str(reply["Index"]) == str(ott["CreateIndex"])
    expires = dt.datetime.fromisoformat(ott["ExpiresAt"])
    ten = dt.timedelta(minutes=10)
    assert before + ten <= expires <= after + ten


def test_exchange_once_for_the_acl_token(agent: Agent) -> None:
    first = agent.call("POST", "/v1/acl/token/onetime", agent.user)[1]["OneTimeToken"]
    second = agent.call("POST", "/v1/acl/token/onetime", agent.user)[1]["OneTimeToken"]
    admin = agent.call("POST", "/v1/acl/token/onetime", agent.admin)[1]["OneTimeToken"]
    exchange = "/v1/acl/token/onetime/exchange"
    assert agent.call("GET", exchange)[:2] == (405, "Invalid method")
    assert agent.call("POST", exchange, body=b"[1]")[0] == 400
    assert agent.call("POST", exchange, body={})[:2] == (403, "Permission denied")

    status, reply, _ = agent.call(
        "POST", exchange, body={"OneTimeSecretID": first["OneTimeSecretID"]}
    )
    assert status == 200 and set(reply) == {"Token", "Index"}
    assert reply["Token"]["SecretID"] == agent.user and reply["Token"]["Name"] == "lc-user"
    again = agent.call("POST", exchange, body={"OneTimeSecretID": first["OneTimeSecretID"]})
    assert again[:2] == (403, "Permission denied")
    # Nomad deletes every one-time token of that ACL token, not only the one exchanged ...
    other = agent.call("POST", exchange, body={"OneTimeSecretID": second["OneTimeSecretID"]})
    assert other[:2] == (403, "Permission denied")
    # ... and no other token's.
    status, reply, _ = agent.call(
        "PUT", exchange, body={"OneTimeSecretID": admin["OneTimeSecretID"]}
    )
    assert status == 200 and reply["Token"]["SecretID"] == agent.admin


def test_root_sends_the_browser_to_the_ui_with_its_query(agent: Agent) -> None:
    status, _, headers = agent.call("GET", "/?ott=x&region=global")
    assert status == 307 and headers["Location"] == "/ui/?ott=x&region=global"
    status, page, headers = agent.call("GET", "/ui/jobs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "stand-in" in page and "/v1/acl/token/onetime/exchange" in page
