"""A moment when every server refuses or drops the connection (a TLS reload's new HTTP
listener, command/agent/command.go reloadHTTPServer) does not fail the ACL step of `up`: a
call that reached no server is made again; one that may have reached it only when repeating
it changes nothing. Real sockets on loopback, real requests and python-nomad."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nomadctl.cluster import acl
from nomadctl.cluster.api import Api, ApiTarget, Unreachable
from nomadctl.errors import ClusterApiError
from tests.cluster.test_waits import closed_port, silent_port  # noqa: F401 (a fixture)

TOKEN = "0b6f7a4e-3c1d-4f9e-8a55-2f0c1e9d7b42"
SELF = {"AccessorID": "a" * 8, "SecretID": "s", "Name": "t", "Type": "management"}


def _answer(conn: socket.socket) -> None:
    conn.recv(65536)
    body = json.dumps(SELF).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def _drop(conn: socket.socket) -> None:
    conn.recv(65536)  # the request arrived; the connection closes with no answer


@contextmanager
def serving(port: int, handle, after: float = 0.0) -> Iterator[list[int]]:
    """Listen on `port` from `after` seconds on; `handle` each connection. Yields a list
    holding the number of connections taken so far."""
    taken = [0]
    stop, bound = threading.Event(), threading.Event()

    def run() -> None:
        if stop.wait(after):
            return
        with socket.socket() as srv:
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("127.0.0.1", port))
            srv.listen(8)
            bound.set()
            srv.settimeout(0.1)
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                with conn:
                    taken[0] += 1
                    handle(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not after:
        assert bound.wait(5), "the listener did not start"
    try:
        yield taken
    finally:
        stop.set()
        thread.join()


def _retry(within: float, lines: list[str]) -> acl._LeaderRetry:
    return acl._LeaderRetry(time.monotonic() + within, lines.append, threading.Event())


def _api(port: int, timeout: float = 2.0) -> Api:
    return Api(ApiTarget([f"http://127.0.0.1:{port}"], token=TOKEN, timeout=timeout))


def test_a_call_refused_while_the_listener_is_reopened_is_made_again() -> None:
    port, lines = closed_port(), []
    with serving(port, _answer, after=0.6) as taken:
        got = _retry(30, lines)(_api(port).token_self)
    assert got["AccessorID"] == SELF["AccessorID"] and taken[0] == 1
    assert len(lines) == 1 and "refused the connection" in lines[0], lines  # said once
    assert lines[0].endswith("; retrying")


def test_a_call_that_may_have_been_applied_is_repeated_only_when_that_is_safe() -> None:
    port, lines = closed_port(), []
    with serving(port, _drop) as taken:
        with pytest.raises(Unreachable) as refused:
            _retry(30, lines)(_api(port).token_self)  # a write, for all the retry knows
        assert taken[0] == 1 and lines == [] and not refused.value.unsent
        assert "closed the connection before answering" in refused.value.message
        started = time.monotonic()
        with pytest.raises(Unreachable):
            _retry(1.0, lines)(_api(port).token_self, replay=True)
        assert taken[0] > 2 and len(lines) == 1 and time.monotonic() - started < 10


def test_a_server_that_does_not_answer_in_time_is_not_waited_for_again(
    silent_port: int,  # noqa: F811 (the fixture)
) -> None:
    lines: list[str] = []
    with pytest.raises(Unreachable) as slow:
        _retry(30, lines)(_api(silent_port, timeout=0.3).token_self, replay=True)
    assert slow.value.kinds == {"timeout"} and lines == []


def test_by_hand_a_refusal_is_an_error_at_once() -> None:
    """`acl-bootstrap` by hand (transient_for 0): no reload of this run to wait out."""
    port, lines = closed_port(), []
    retry = acl._LeaderRetry(time.monotonic() + 30, lines.append, threading.Event(), 0.0)
    with pytest.raises(Unreachable):
        retry(_api(port).token_self, replay=True)
    assert lines == []


def test_refusals_are_retried_for_a_while_only() -> None:
    port, lines = closed_port(), []
    retry = _retry(300, lines)
    retry.transient_until = time.monotonic() + 0.5  # as if refused for TRANSIENT_FOR already
    with pytest.raises(Unreachable) as refused:
        retry(_api(port).token_self)
    assert refused.value.unsent and refused.value.kinds == {"refused"}
    assert acl.TRANSIENT_FOR <= 30  # a misconfigured address fails within half a minute


def _refuse_delete(text: str):
    def handle(conn: socket.socket) -> None:
        conn.recv(65536)
        body = text.encode()
        head = f"HTTP/1.1 400 Bad Request\r\nContent-Length: {len(body)}\r\n"
        conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)

    return handle


def test_a_token_already_gone_is_revoked_and_other_refusals_are_not() -> None:
    """Nomad answers a delete of a token that is gone with 400 "Cannot delete nonexistent
    tokens" (nomad/acl_endpoint.go DeleteTokens): done, so a replayed delete that went
    through the first time ends well. Any other 400 is an error."""
    accessor = "3f1c9a52-7e4b-4d0a-9c61-0b2d8e5f7a10"
    port = closed_port()
    with serving(port, _refuse_delete(f"Cannot delete nonexistent tokens: {accessor}")):
        _api(port).delete_token(accessor)
    port = closed_port()
    refused = pytest.raises(ClusterApiError, match="token lookup failed")
    with serving(port, _refuse_delete("token lookup failed: boom")), refused:
        _api(port).delete_token(accessor)
