"""Issue 25 point 2: where the API commands and `env` go when the cluster has an API endpoint
(the AWS load balancer, recorded in state.json `api_endpoint`), and when it has none.

Real sockets on loopback: a server that takes connections and one that refuses them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomadctl.cluster.target import env_lines, workspace_target
from nomadctl.hosts import Host
from nomadctl.pki import store
from nomadctl.workspace import Workspace

ENDPOINT = "https://nomadctl-lab-1.eu-west-1.elb.amazonaws.com:4646"


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    """(a port nothing listens on: bound, never listening; a port that takes connections)."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    open_ = socket.socket()
    open_.bind(("127.0.0.1", 0))
    open_.listen(8)
    try:
        yield closed.getsockname()[1], open_.getsockname()[1]
    finally:
        closed.close()
        open_.close()


def workspace(tmp: Path, ports: tuple[int, int], endpoint: str | None) -> Workspace:
    ws = Workspace(tmp, "lab").create()
    store.ensure(ws, store.CertOptions(region="global"))
    down, up = ports
    hosts = [
        Host("lab-server-1", "server", "127.0.0.1", http_port=down),
        Host("lab-server-2", "server", "127.0.0.1", http_port=up),
        Host("lab-server-3", "server", "127.0.0.1", http_port=down),
    ]
    ws.update_state(
        hosts=[h.to_dict() for h in hosts],
        ssh={"user": "ubuntu", "address": "private"},
        api_endpoint={"address": endpoint, "dns_name": endpoint[8:-5]} if endpoint else None,
    )
    return ws


def nomad_addr(ws: Workspace) -> str:
    (line,) = [x for x in env_lines(ws, "bash") if x.startswith("export NOMAD_ADDR=")]
    return line.split("=", 1)[1]


def test_with_an_endpoint_everything_goes_through_it_first(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    ws = workspace(tmp_path, ports, ENDPOINT)
    down, up = ports
    assert nomad_addr(ws) == ENDPOINT
    assert list(workspace_target(ws).addresses) == [
        ENDPOINT,
        f"https://127.0.0.1:{down}",
        f"https://127.0.0.1:{up}",
        f"https://127.0.0.1:{down}",
    ]


def test_without_one_env_picks_a_server_that_answers_now(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    ws = workspace(tmp_path, ports, None)
    assert nomad_addr(ws) == f"https://127.0.0.1:{ports[1]}"
    assert len(workspace_target(ws).addresses) == 3
