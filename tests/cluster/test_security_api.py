"""Issue 15, points 2 and 3: tokens go only to their own cluster and never into a message;
the user token can operate jobs and no more; `env` exports it, not the management token.

Against stand-in agents on loopback with the workspace's own mutual TLS, and plain TCP
listeners that record what reaches them. Each test failed on main (f823a2b)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomadctl.cluster import acl
from nomadctl.cluster.api import Api, ApiTarget
from nomadctl.cluster.target import env_lines
from nomadctl.errors import ClusterApiError
from nomadctl.workspace import Workspace
from tests.cli.test_api_commands import nomadctl, one_line_error, workspace_cluster
from tests.standin import make_binary
from tests.standin.harness import LocalAgents, Running

OTHER = "9d1c0f4e-7a6b-4c3d-8e2f-1a0b9c8d7e6f"  # a token of some other cluster


class Listener:
    """A TCP listener on loopback that records every connection and what came on it; it
    answers HTTP 403 so a client that reached it gets an answer, not a hang."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 17\r\n\r\n")
                    conn.sendall(b"Permission denied")
                except OSError:
                    pass
                self.received.append(data)

    def close(self) -> None:
        """Stop the thread, then free the port.

        Closing the socket alone left the thread blocked in accept() for the rest of the
        worker's life, and that accept was not bound to this socket: after a signal it was
        restarted on the same descriptor number (seen with strace: accept4(14) restarted after
        ERESTARTSYS), which by then was a later test's AWS proxy. That test's first request got
        this listener's 403, in CI. shutdown() wakes the accept with an error, so the thread is
        gone before the number can be reused."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=5)
        self.sock.close()
        assert not self.thread.is_alive(), "the listener's thread did not stop"


@pytest.fixture
def listener() -> Iterator[Listener]:
    ln = Listener()
    try:
        yield ln
    finally:
        ln.close()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[LocalAgents]:
    la = LocalAgents(make_binary(tmp_path / "nomad"), tmp_path / "agents")
    try:
        yield la
    finally:
        la.close()


@pytest.fixture
def cluster(agents: LocalAgents, tmp_path: Path) -> tuple[Workspace, Running]:
    return workspace_cluster(agents, tmp_path / "c")


# ---- point 2: tokens go only to their own cluster ------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env"])
def test_named_cluster_acl_bootstrap_sends_nothing_to_nomad_addr(
    cluster: tuple[Workspace, Running], listener: Listener, how: str
) -> None:
    ws, agent = cluster
    shell = {"NOMAD_ADDR": listener.url, "NOMAD_TOKEN": OTHER}
    args = ["--cluster", "lab"] if how == "flag" else []
    if how == "env":
        shell["NOMADCTL_CLUSTER"] = "lab"
    proc = nomadctl(ws.home.parent, *args, "acl-bootstrap", "--json", **shell)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "bootstrapped"
    assert "ignoring NOMAD_ADDR, NOMAD_TOKEN" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "ignoring" in line]) == 1
    # Run again: the stored management token is checked, against the workspace's cluster.
    proc = nomadctl(ws.home.parent, *args, "acl-bootstrap", "--json", **shell)
    assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == "already"
    assert listener.received == []  # not one connection reached NOMAD_ADDR
    assert agent.alive()


def test_named_cluster_status_uses_its_own_token(
    cluster: tuple[Workspace, Running], listener: Listener
) -> None:
    ws, _ = cluster
    assert nomadctl(ws.home.parent, "--cluster", "lab", "acl-bootstrap").returncode == 0
    shell = {"NOMAD_ADDR": listener.url, "NOMAD_TOKEN": OTHER}
    proc = nomadctl(ws.home.parent, "--cluster", "lab", "status", "--json", **shell)
    assert proc.returncode == 0, proc.stderr  # OTHER would have been refused (403)
    assert json.loads(proc.stdout)["healthy"] is True
    assert listener.received == []


def test_unnamed_nomad_addr_gets_only_its_own_token(
    cluster: tuple[Workspace, Running], listener: Listener
) -> None:
    """Without --cluster, NOMAD_ADDR is followed (like the nomad CLI), with NOMAD_TOKEN and
    never the workspace's management token."""
    ws, _ = cluster
    assert nomadctl(ws.home.parent, "--cluster", "lab", "acl-bootstrap").returncode == 0
    secret = acl.load_token(ws)["SecretID"]  # type: ignore[index]
    env = {"NOMAD_ADDR": listener.url, "NOMADCTL_HOME": str(ws.home)}
    proc = nomadctl(ws.home.parent, "status", **env)
    assert proc.returncode != 0 and listener.received
    proc = nomadctl(ws.home.parent, "status", **env, NOMAD_TOKEN=OTHER)
    assert proc.returncode != 0
    sent = b"".join(listener.received)
    assert secret.encode() not in sent and OTHER.encode() in sent


def test_token_with_trailing_cr_never_appears(listener: Listener, tmp_path: Path) -> None:
    """A token pasted with a CR is stripped before use; python-nomad/requests would have put
    it, CR and all, into the InvalidHeader message nomadctl printed."""
    proc = nomadctl(tmp_path, "status", NOMAD_ADDR=listener.url, NOMAD_TOKEN=OTHER + "\r")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and OTHER not in out and OTHER[:8] not in out, out
    assert "permission denied" in one_line_error(proc)
    headers = b"".join(listener.received).lower()
    assert f"x-nomad-token: {OTHER}\r\n".encode() in headers  # stripped, then sent


def test_a_token_that_is_no_uuid_is_a_usage_error(listener: Listener, tmp_path: Path) -> None:
    secret = "s3cr3t value;with junk"
    proc = nomadctl(tmp_path, "status", NOMAD_ADDR=listener.url, NOMAD_TOKEN=secret)
    assert proc.returncode == 2 and "NOMAD_TOKEN is not a Nomad ACL token" in proc.stderr
    assert "s3cr3t" not in proc.stdout + proc.stderr
    assert listener.received == []


def test_exception_text_is_scrubbed_of_the_token(listener: Listener) -> None:
    """Whatever the HTTP library puts in its exception: here requests' own InvalidHeader,
    which quotes the header value, for a token that bypassed the checks."""
    bad = OTHER + "\r\n"
    with pytest.raises(ClusterApiError) as info:
        Api(ApiTarget([listener.url], token=bad)).members()
    assert OTHER not in info.value.message and OTHER not in str(info.value)
    assert "<redacted>" in info.value.message


# ---- point 3: least privilege ---------------------------------------------------------------


JOB = {
    "Job": {
        "ID": "web",
        "Name": "web",
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [
            {
                "Name": "g",
                "Count": 1,
                "Tasks": [{"Name": "t", "Driver": "docker", "Config": {"image": "nginx"}}],
            }
        ],
    }
}


def test_user_token_operates_jobs_and_no_more(cluster: tuple[Workspace, Running]) -> None:
    ws, agent = cluster
    proc = nomadctl(ws.home.parent, "--cluster", "lab", "acl-bootstrap")
    assert proc.returncode == 0, proc.stderr
    user = acl.load_token(ws, "user")["SecretID"]  # type: ignore[index]
    assert "agent" not in acl.USER_POLICY_RULES and 'namespace "default"' in acl.USER_POLICY_RULES

    def status(path: str, method: str = "GET", **kw: object) -> int:
        return agent.api(path, method, token=user, **kw).status_code

    assert status("/v1/jobs", "POST", json=JOB) == 200
    assert status("/v1/jobs") == 200
    assert status("/v1/nodes") == 200
    assert status("/v1/agent/members") == 200  # `nomad server members` needs node read only
    assert status("/v1/agent/self") == 403  # no agent rules
    assert status("/v1/jobs?namespace=other", "POST", json=JOB) == 403  # default only
    assert status("/v1/acl/tokens") == 403
    assert status("/v1/operator/raft/configuration") == 403

    # --user-namespace widens it on request; the policy is rewritten on a re-run.
    proc = nomadctl(
        ws.home.parent, "--cluster", "lab", "acl-bootstrap", "--user-namespace", "other"
    )
    assert proc.returncode == 0, proc.stderr
    # The ACL check passes; whether namespace "other" exists is Nomad's next check (the
    # stand-in does not make it: it registers the job), so only "not 403" is asserted.
    assert status("/v1/jobs?namespace=other", "POST", json=JOB) != 403
    assert status("/v1/jobs", "POST", json=JOB) == 403  # only what was asked


def test_env_exports_the_user_token_unless_asked(cluster: tuple[Workspace, Running]) -> None:
    ws, _ = cluster
    assert nomadctl(ws.home.parent, "--cluster", "lab", "acl-bootstrap").returncode == 0
    user = acl.load_token(ws, "user")["SecretID"]  # type: ignore[index]
    management = acl.load_token(ws)["SecretID"]  # type: ignore[index]
    proc = nomadctl(ws.home.parent, "--cluster", "lab", "env")
    assert proc.returncode == 0 and f"NOMAD_TOKEN={user}" in proc.stdout
    assert management not in proc.stdout
    proc = nomadctl(ws.home.parent, "--cluster", "lab", "env", "--management")
    assert proc.returncode == 0 and f"NOMAD_TOKEN={management}" in proc.stdout
    assert env_lines(ws, "bash")[-2:] == [
        f"export NOMAD_TOKEN={user}",
        "export NOMADCTL_CLUSTER=lab",
    ]


def test_nomad_addr_with_a_password_is_refused(listener: Listener, tmp_path: Path) -> None:
    addr = f"http://admin:hunter2@127.0.0.1:{listener.port}"
    proc = nomadctl(tmp_path, "status", NOMAD_ADDR=addr)
    assert proc.returncode == 2 and "NOMAD_ADDR must be" in proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr and listener.received == []
