"""Issue 29: the stand-in's kept RPC connections behave like Nomad's connection pool.

A follower forwarding `GET /v1/jobs` to the leader failed with `rpc error: failed to forward
to leader ...: EOF occurred in violation of protocol`: the leader's RPC listener closed a
kept-alive connection after 30 s idle, and the follower wrote its next RPC into it. Nomad
v1.10.5 never closes an idle RPC connection on the serving side (nomad/rpc.go
handleMultiplexV2), notices a kept one the far side closed before using it (yamux recvLoop;
helper/pool/pool.go getRPCClient dials again) and does not send an RPC again once it was
written (pool.go ConnPool.RPC). No clock is read here: each step waits for its event.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standin import certs
from tests.standin.agent.common import Log
from tests.standin.agent.config import AgentConfig, TLSConfig
from tests.standin.agent.main import Agent
from tests.standin.agent.transport import (
    Listener,
    Request,
    Response,
    Rpc,
    ok,
    server_ssl_context,
)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSConfig:
    d = tmp_path_factory.mktemp("rpc-pool")
    ca = certs.make_ca(d)
    pair = certs.make_cert(ca, d, "server")
    return TLSConfig(
        rpc=True, ca_file=str(ca.cert), cert_file=str(pair.cert), key_file=str(pair.key)
    )


def _echo(req: Request) -> Response:
    return ok({"status": 200, "body": "", "ctype": "text/plain", "peer": req.peer})


@contextlib.contextmanager
def _rpc_listener(tls: TLSConfig, tmp: Path) -> Iterator[Listener]:
    """The RPC listener exactly as a server agent opens it (main.Agent._listen)."""
    cfg = AgentConfig(name="leader", data_dir=str(tmp), tls=tls)
    cfg.bind, cfg.ports = {"rpc": "127.0.0.1"}, {"rpc": 0}
    agent = Agent(cfg, Log("ERROR"))
    agent._listen("rpc", _echo, server_ssl_context(tls, True))
    lst = agent.listeners[0]
    lst.start()
    try:
        yield lst
    finally:
        lst.shutdown()
        lst.server_close()


def _kept_socket(rpc: Rpc, port: int) -> ssl.SSLSocket:
    (conn,) = rpc._idle[("127.0.0.1", port)]
    assert isinstance(conn.sock, ssl.SSLSocket)
    return conn.sock


def test_the_leader_keeps_an_idle_rpc_connection_open(tls: TLSConfig, tmp_path: Path) -> None:
    with _rpc_listener(tls, tmp_path) as lst:
        port = lst.server_address[1]
        rpc = Rpc(AgentConfig(name="follower", tls=tls))  # kept: its connection stays open
        rpc.call(f"127.0.0.1:{port}", "/rpc/x", {})
        with lst._conns_lock:
            served = list(lst._conns)
        # Was 30 s: the leader then closed the follower's kept connection under it.
        assert [c.gettimeout() for c in served] == [None]
        assert _kept_socket(rpc, port).fileno() >= 0


def test_a_kept_connection_the_leader_closed_is_dialled_anew(
    tls: TLSConfig, tmp_path: Path
) -> None:
    with _rpc_listener(tls, tmp_path) as lst:
        port = lst.server_address[1]
        rpc = Rpc(AgentConfig(name="follower", tls=tls))
        first = rpc.call(f"127.0.0.1:{port}", "/rpc/x", {"n": 1})
        with lst._conns_lock:
            served = list(lst._conns)
        for conn in served:  # the leader restarts, or closes it as its idle timeout did
            conn.shutdown(socket.SHUT_RDWR)
        assert select.select([_kept_socket(rpc, port)], [], [], 30)[0], "no FIN came"
        # Before: ssl.SSLEOFError "EOF occurred in violation of protocol" (a 500 on forward).
        second = rpc.call(f"127.0.0.1:{port}", "/rpc/x", {"n": 2})
        assert first["peer"] != second["peer"]  # a new connection


def _serve_then_break(srv: socket.socket, ctx: ssl.SSLContext, seen: list[bytes]) -> None:
    """Answers each request, except that the second on the first connection is read and
    then the connection closed with no answer (the leader died while serving it)."""
    first = True
    while True:
        try:
            raw, _ = srv.accept()
        except OSError:
            return
        with ctx.wrap_socket(raw, server_side=True) as conn, conn.makefile("rb") as f:
            for n in (1, 2) if first else (1,):
                head = b"".join(iter(f.readline, b"\r\n"))
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                f.read(length)
                seen.append(head.split(b"\r\n")[0])
                if first and n == 2:
                    conn.shutdown(socket.SHUT_RDWR)
                    break
                body = b'{"status": 200, "body": "", "ctype": "text/plain"}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        first = False


def test_an_rpc_whose_connection_broke_after_it_was_written_is_not_sent_again(
    tls: TLSConfig,
) -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []
    ctx = server_ssl_context(tls, True)
    thread = threading.Thread(target=_serve_then_break, args=(srv, ctx, seen), daemon=True)
    thread.start()
    addr = f"127.0.0.1:{srv.getsockname()[1]}"
    rpc = Rpc(AgentConfig(name="follower", tls=tls))
    try:
        rpc.call(addr, "/rpc/http", {"n": 1})
        # Nomad's ConnPool.RPC returns "rpc error: EOF" and clears the connection: a job
        # register the leader may have applied is not applied twice.
        with pytest.raises((OSError, http.client.HTTPException)):
            rpc.call(addr, "/rpc/http", {"n": 2})
        assert seen == [b"POST /rpc/http HTTP/1.1"] * 2
        assert not rpc._idle.get(("127.0.0.1", srv.getsockname()[1]))
    finally:
        srv.shutdown(socket.SHUT_RDWR)  # wakes accept() (Linux), then the thread ends
        thread.join()
        srv.close()
