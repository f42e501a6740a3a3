"""Every wait says what it waits for, for how long so far, and why it is still waiting.

SSH and the leader wait against loopback ports (real sockets, real paramiko and requests);
the AWS waits through the real CLI on moto behind the strict layer, whose IAM propagation
window makes `up` retry AddRoleToInstanceProfile for a few seconds.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomadctl.cluster.api import Api, ApiTarget, NoLeader
from nomadctl.errors import RemoteError
from nomadctl.node.ssh import Endpoint, KnownHosts, Session, SshUnreachable
from tests.aws.checks import ok
from tests.aws.fixtures import AwsEnv


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def ssh_key(tmp: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp / "id_ed25519"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def session(tmp: Path, port: int, connect_timeout: float = 1.0) -> Session:
    known = KnownHosts(tmp / "known_hosts", lambda p, data: p.write_bytes(data))
    return Session(
        Endpoint("127.0.0.1", port, "ubuntu"), ssh_key(tmp), known, connect_timeout=connect_timeout
    )


RAW = ("[Errno None]", "Unable to connect", "NoValidConnectionsError", "Traceback")


def test_ssh_wait_reports_elapsed_attempts_and_reason(tmp_path: Path) -> None:
    lines: list[str] = []
    with pytest.raises(SshUnreachable) as caught:
        session(tmp_path, closed_port()).connect(wait=2.0, progress=lines.append)
    assert lines, "a wait of 2 s must say what it waits for"
    assert all(
        line.startswith("waiting for SSH on 127.0.0.1: connection refused (") for line in lines
    )
    assert re.search(r"\(0s of 2s, attempt 1\)", lines[0]), lines
    message = caught.value.message
    assert "refused the connection on port" in message and "no SSH server listens" in message
    assert re.search(r"tried [2-9] times in [12]s", message), message
    assert not any(raw in message for raw in RAW), message


def test_ssh_without_handshake_is_named_as_such(tmp_path: Path, silent_port: int) -> None:
    lines: list[str] = []
    with pytest.raises(RemoteError) as caught:
        session(tmp_path, silent_port).connect(wait=1.5, progress=lines.append)
    assert "no SSH handshake yet" in lines[0], lines
    assert "accepted the connection on port" in caught.value.message
    assert "but no SSH handshake followed" in caught.value.message
    assert "still booting" in caught.value.message
    assert not any(raw in caught.value.message for raw in RAW)


def test_leader_wait_reports_elapsed_attempts_and_reason() -> None:
    api = Api(ApiTarget([f"https://127.0.0.1:{closed_port()}"], timeout=1))
    lines: list[str] = []
    with pytest.raises(NoLeader) as caught:
        api.wait_for_leader(1.5, lines.append)
    assert re.match(r"waiting for a leader \(0s of 2s, attempt 1\): reading the leader:", lines[0])
    assert "refused the connection" in lines[0]
    assert re.search(r"no cluster leader after 2s \(\d+ attempts\)", caught.value.message)
    assert "Max retries" not in caught.value.message


def test_aws_waits_say_what_they_wait_for(aws_env: AwsEnv) -> None:
    aws_env.strict.windows.iam_entity = 3.0  # AddRoleToInstanceProfile: NoSuchEntity for 3 s
    aws_env.strict.windows.at_least_once = True  # and at least once, on a loaded machine too
    proc = ok(
        aws_env.nomadctl(
            *("--cluster", "w", "up", "--yes", "--servers", "1", "--clients", "0"),
            *("--allow-cidr", "203.0.113.0/24"),
        )
    )
    assert re.search(
        r"waiting for the new instance profile nomadctl-w-node to propagate in IAM "
        r"\(\d+s so far, at most 120s\): NoSuchEntity",
        proc.stderr,
    ), proc.stderr
    assert re.search(
        r"waiting for the IAM instance profile to be visible to EC2 \(\d+s so far, at most "
        r"\d+s\); retrying w-server-1",
        proc.stderr,
    ), proc.stderr
    assert re.search(
        r"waiting for instances to be running with a public IP: [01]/1 "
        r"\(\d+s so far, at most 600s\)",
        proc.stderr,
    ), proc.stderr  # (moto is reset for the next test: no `down` needed)
