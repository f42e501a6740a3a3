"""Recovery paths that work (issue 16): the standard AWS environment, `down` twice, `down`
without (or with a damaged) workspace, `down` then `up` on the same hosts, `down --force` for a
host gone for good, and connection failures told as one sentence with a cause and a next step.

Real parts: moto behind the strict layer (tests/aws), one testbed of three real sshd hosts for
the whole module (tests/testbed) with the Nomad stand-in uploaded as the binary, loopback HTTP
and TLS servers for the API's failures.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nomadctl.cluster.api import Api, ApiTarget
from nomadctl.connfail import failure_kind
from nomadctl.errors import ClusterApiError, RemoteError
from nomadctl.pki import store
from nomadctl.workspace import Workspace
from tests.aws import checks
from tests.aws.checks import error_line, ok
from tests.aws.fixtures import OTHER_REGION, REGION, AwsEnv, seed_ubuntu_ami
from tests.standin import make_binary

RAW = ("NewConnectionError", "Max retries exceeded", "HTTPSConnectionPool", "[Errno", "Traceback")
SMALL = ("--servers", "1", "--clients", "0", "--allow-cidr", "203.0.113.0/24")


# ---- the standard AWS environment ---------------------------------------------------------


def test_aws_region_wins_and_list_and_down_follow_the_recorded_region(aws_env: AwsEnv) -> None:
    seed_ubuntu_ami(OTHER_REGION)
    # AWS_REGION alone is enough (boto3 itself reads only AWS_DEFAULT_REGION) ...
    only = {"AWS_REGION": OTHER_REGION, "AWS_DEFAULT_REGION": None}
    ok(aws_env.nomadctl("--cluster", "east", "up", "--yes", *SMALL, env=only))
    assert checks.instances(aws_env, "east", OTHER_REGION)
    assert checks.state(aws_env, "east")["aws"]["region"] == OTHER_REGION
    # ... and it wins over AWS_DEFAULT_REGION, as in the AWS CLI and the other SDKs
    both = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": OTHER_REGION}
    listed = json.loads(ok(aws_env.nomadctl("list", "--json", env=both)).stdout)
    assert listed == []  # the default cluster "nomad" has no workspace: AWS_REGION decides

    # no region anywhere: list and down use the cluster's recorded region
    none = {"AWS_REGION": None, "AWS_DEFAULT_REGION": None}
    listed = json.loads(
        ok(aws_env.nomadctl("--cluster", "east", "list", "--json", env=none)).stdout
    )
    assert [(c["cluster"], c["region"]) for c in listed] == [("east", OTHER_REGION)]
    # and the recorded region beats the environment's for the cluster itself
    elsewhere = {"AWS_REGION": REGION}
    table = ok(aws_env.nomadctl("--cluster", "east", "list", env=elsewhere)).stdout
    assert "east" in table and OTHER_REGION in table
    proc = ok(aws_env.nomadctl("--cluster", "east", "down", "--yes", env=none))
    assert "east-server-1" in proc.stdout
    checks.assert_gone(aws_env, "east", OTHER_REGION)

    # a second down is safe, still without any region in the environment
    again = ok(aws_env.nomadctl("--cluster", "east", "down", "--yes", env=none))
    assert f"Nothing to delete: no resources tagged for 'east' in {OTHER_REGION}" in again.stdout


def test_profiles_from_flag_and_environment(aws_env: AwsEnv) -> None:
    config = aws_env.tmp / "aws-config"
    config.write_text(f"[profile lab]\nregion = {OTHER_REGION}\n")
    creds = aws_env.tmp / "aws-credentials"
    creds.write_text(
        "[lab]\naws_access_key_id = AKIATESTTESTTESTTEST\n"
        "aws_secret_access_key = test-secret-not-real\n"
    )
    env: dict[str, str | None] = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_DEFAULT_REGION": None,
    }
    ec2 = aws_env.client("ec2", OTHER_REGION)  # a cluster's VPC, in the profile's region only
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "nomadctl:cluster", "Value": "prof"}])

    listed = ok(aws_env.nomadctl("list", "--json", "--profile", "lab", env=env)).stdout
    assert [(c["cluster"], c["region"]) for c in json.loads(listed)] == [("prof", OTHER_REGION)]
    listed = ok(aws_env.nomadctl("list", "--json", env={**env, "AWS_PROFILE": "lab"})).stdout
    assert [c["vpc_id"] for c in json.loads(listed)] == [vpc]

    proc = aws_env.nomadctl("list", "--profile", "nope", env=env)
    assert proc.returncode == 5
    assert "AWS profile 'nope' not found (named by --profile)" in error_line(proc.stderr)
    proc = aws_env.nomadctl("list", env={**env, "AWS_PROFILE": "nope"})
    assert proc.returncode == 5
    assert "AWS profile 'nope' not found (named by AWS_PROFILE)" in error_line(proc.stderr)

    proc = ok(aws_env.nomadctl("--cluster", "prof", "down", "--yes", "--profile", "lab", env=env))
    assert vpc in proc.stdout and OTHER_REGION in proc.stdout
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []


DAMAGES = [
    ('{"version": 1, "cluster": "dmg", "aws": "eu-west-1"}', "its 'aws' is a str"),
    ('{"version": 1, "cluster": "dmg", "aws": {"region": 7}}', "aws.region 7 is not"),
    ('{"version": 1, "cluster": "dmg", "hosts": {"a": 1}}', "malformed host entry"),
    ('{"version": 9, "cluster": "dmg"}', "state version 9"),
]


def test_down_with_a_damaged_state_says_so_and_goes_by_tag(aws_env: AwsEnv) -> None:
    """Each damage is named, and `down` goes on by tag (a dry run here: the deletion itself,
    with a damaged state and without a workspace, is in tests/test_readme_recovery.py)."""
    ws = aws_env.home / "dmg"
    ws.mkdir(parents=True)
    vpc = aws_env.client("ec2").create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    aws_env.client("ec2").create_tags(
        Resources=[vpc], Tags=[{"Key": "nomadctl:cluster", "Value": "dmg"}]
    )
    for damage, why in [("{not json", "is not valid JSON"), *DAMAGES]:
        (ws / "state.json").write_text(damage)
        proc = ok(aws_env.nomadctl("--cluster", "dmg", "down", "--dry-run"))  # never exit 70
        assert "state is unreadable" in proc.stderr and why in proc.stderr, (damage, proc.stderr)
        assert vpc in proc.stdout and "delete" in proc.stdout  # found by its tag
        assert (ws / "state.json").read_text() == damage  # a dry run changes nothing


# ---- connection failures: one sentence ---------------------------------------------------


@pytest.fixture(scope="module")
def two_cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Workspace]:
    tmp = tmp_path_factory.mktemp("cas")
    a, b = Workspace(tmp, "a"), Workspace(tmp, "b")
    for ws in (a, b):
        store.ensure(ws, store.CertOptions())
    return a, b


def _serve(handler: Any) -> tuple[int, threading.Event, socket.socket, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), stop, listener, thread


@pytest.fixture
def servers(two_cas: tuple[Workspace, Workspace]) -> Iterator[dict[str, int]]:
    """Loopback ports: one serving TLS with cluster a's server certificate, one accepting
    and never answering, one closing every connection at once."""
    leaf = store.leaf_paths(two_cas[0], "server", "global")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.cert, leaf.key)

    def tls(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as s:
                s.recv(100)
        except (OSError, ssl.SSLError):
            conn.close()

    held: list[socket.socket] = []
    made = [_serve(tls), _serve(held.append), _serve(lambda c: c.close())]
    try:
        yield {"tls": made[0][0], "silent": made[1][0], "closing": made[2][0]}
    finally:
        for _, stop, listener, thread in made:  # the loop ends before its socket is closed
            stop.set()
            thread.join(timeout=5)
            listener.close()
        for conn in held:
            conn.close()


def _message(target: ApiTarget) -> str:
    with pytest.raises(ClusterApiError) as caught:
        Api(target).members()
    message = caught.value.message
    assert not any(raw in message for raw in RAW), message
    return message


def test_api_failures_name_cause_and_next_step(
    two_cas: tuple[Workspace, Workspace], servers: dict[str, int]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    message = _message(ApiTarget([f"https://127.0.0.1:{closed}"]))
    assert f"127.0.0.1:{closed} refused the connection: no Nomad agent listens there" in message

    other_ca = str(store.ca_paths(two_cas[1]).cert)
    tls = f"https://127.0.0.1:{servers['tls']}"
    message = _message(ApiTarget([tls], ca_file=other_ca, server_name="server.global.nomad"))
    assert f"{tls} showed a certificate not trusted by {other_ca}" in message
    assert "that is another cluster, or the CA is not this cluster's" in message

    silent = f"https://127.0.0.1:{servers['silent']}"
    message = _message(ApiTarget([silent], ca_file=other_ca, timeout=0.5))
    assert f"{silent} did not answer within 0.5s: the servers are down" in message

    closing = f"https://127.0.0.1:{servers['closing']}"
    message = _message(ApiTarget([closing], ca_file=other_ca, timeout=2))
    assert f"{closing} closed the connection" in message

    # Both at once: one sentence per kind of failure, each naming its addresses.
    message = _message(ApiTarget([f"https://127.0.0.1:{closed}", silent], timeout=0.5))
    assert "refused the connection" in message and "did not answer within 0.5s" in message


def test_name_resolution_failure_is_its_own_sentence() -> None:
    """No DNS query leaves this machine: the exception is the one urllib3 raises for a name
    getaddrinfo cannot resolve, wrapped as requests wraps it."""
    import requests
    from urllib3.exceptions import MaxRetryError, NameResolutionError

    err = NameResolutionError("nomad.example", None, socket.gaierror(-2, "Name not known"))  # type: ignore[arg-type]
    wrapped = requests.exceptions.ConnectionError(MaxRetryError(None, "/v1/agent/members", err))  # type: ignore[arg-type]
    assert failure_kind(wrapped) == ("dns", "")


def test_failure_message_names_the_others_only_when_there_are_others() -> None:
    from nomadctl.hosts import Host
    from nomadctl.node.configure import HostResult
    from nomadctl.plan.report import UpReport, failure_message

    hosts = [Host(f"lab-server-{i}", "server", f"198.18.0.{i}") for i in (1, 2, 3)]
    bad = HostResult(hosts[0], "failed", error="cannot reach it")
    alone = failure_message(UpReport([bad]))
    assert "other" not in alone and alone.endswith("re-run `nomadctl up` to finish")
    two = failure_message(UpReport([bad, HostResult(hosts[1], "configured")]))
    assert "the other one is configured" in two
    three = [bad, *(HostResult(h, "configured") for h in hosts[1:])]
    assert "the other 2 are configured" in failure_message(UpReport(three))


def test_bootstrap_calls_retry_while_there_is_no_leader() -> None:
    import time

    from nomadctl.cluster.acl import _LeaderRetry
    from nomadctl.cluster.api import NoLeader

    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise NoLeader("reading ACL policy x: no cluster leader yet (https://a)")
        return "ok"

    lines: list[str] = []
    retry = _LeaderRetry(time.monotonic() + 5, lines.append, threading.Event())
    assert retry(flaky) == "ok" and len(calls) == 3
    assert lines == ["reading ACL policy x: no cluster leader yet (https://a); retrying"] * 2
    with pytest.raises(NoLeader):  # bounded: past the leader timeout the error stands
        _LeaderRetry(time.monotonic() + 0.05, lines.append, threading.Event())(
            lambda: (_ for _ in ()).throw(NoLeader("no cluster leader yet"))
        )


# ---- hosts you already have -------------------------------------------------------------


class Lab:
    """One server and two clients on the module's testbed, cluster `lab`."""

    def __init__(self, tb: Any, tmp: Path) -> None:
        self.tb, self.home = tb, tmp / "home"
        self.binary = make_binary(tmp / "nomad")

    @property
    def ws(self) -> Path:
        return self.home / "lab"

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            "NOMADCTL_HOME": str(self.home),
            "COLUMNS": "200",
        }
        return subprocess.run(
            [sys.executable, "-m", "nomadctl", "--cluster", "lab", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def up(self) -> subprocess.CompletedProcess[str]:
        server, *clients = self.tb.hosts
        args = ["up", "--yes", "--json", "--no-docker", "--ssh-key", str(self.tb.key_path)]
        args += ["--nomad-binary", str(self.binary), "--leader-timeout", "60"]
        args += ["--server", server.address]
        for host in clients:
            args += ["--client", host.address]
        return self.run(*args)


@pytest.fixture(scope="module")
def lab(testbed_factory_module: Any, tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(testbed_factory_module(3), tmp_path_factory.mktemp("lab"))


def _session(lab: Lab, host: Any, tmp: Path, key: Path | None = None, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    from nomadctl.node.ssh import Endpoint, KnownHosts, Session

    known = KnownHosts(tmp / "known_hosts", lambda p, data: p.write_bytes(data))
    return Session(
        Endpoint(host.address, 22, "ubuntu"),
        key or lab.tb.key_path,
        known,
        connect_timeout=timeout,
    )


@pytest.mark.testbed
def test_ssh_failures_name_cause_and_next_step(lab: Lab, tmp_path: Path) -> None:
    from tests.cluster.test_waits import ssh_key

    host = lab.tb.hosts[2]
    with pytest.raises(RemoteError) as caught:  # a key the host does not accept
        _session(lab, host, tmp_path, key=ssh_key(tmp_path)).connect()
    assert f"{host.address} refused SSH login as 'ubuntu' with the key" in caught.value.message
    assert "check --ssh-user and --ssh-key" in caught.value.message

    other = lab.tb.hosts[1].host_public_key.split()
    (tmp_path / "known_hosts").write_text(f"{host.address} {other[0]} {other[1]}\n")
    with pytest.raises(RemoteError) as caught:  # a pinned key that changed
        _session(lab, host, tmp_path).connect()
    assert "has CHANGED since first contact" in caught.value.message
    (tmp_path / "known_hosts").unlink()

    lab.tb.kill_sshd(host)
    try:
        with pytest.raises(RemoteError) as caught:
            _session(lab, host, tmp_path).connect(wait=0.5)
        assert f"{host.address} refused the connection on port 22" in caught.value.message
    finally:
        lab.tb.start_sshd(host)

    lab.tb.net_down(host)
    try:
        with pytest.raises(RemoteError) as caught:
            _session(lab, host, tmp_path, timeout=1).connect(wait=0.5)
        message = caught.value.message
        assert f"{host.address} did not answer on port 22 within 1s" in message
        assert "a firewall drops SSH" in message
    finally:
        lab.tb.net_up(host)
    for raw in ("[Errno None]", "Unable to connect", "Traceback"):
        assert raw not in message


@pytest.mark.testbed
def test_down_then_up_on_the_same_hosts(lab: Lab) -> None:
    proc = lab.up()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["acl"] == "bootstrapped"
    ca = (lab.ws / "certificates" / "ca" / "nomad-agent-ca.pem").read_bytes()

    proc = lab.run("down", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert not (lab.ws / "tokens" / "management.json").exists()  # the agents' ACLs are gone
    assert not (lab.ws / "tokens" / "user.json").exists()
    assert (lab.ws / "certificates" / "ca" / "nomad-agent-ca.pem").read_bytes() == ca

    proc = lab.up()  # on main: "the management token ... is not accepted by the cluster"
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["acl"] == "bootstrapped" and report["leader"]
    assert (lab.ws / "certificates" / "ca" / "nomad-agent-ca.pem").read_bytes() == ca
    assert lab.run("status", "--wait", "30").returncode == 0


@pytest.mark.testbed
def test_down_force_drops_a_host_gone_for_good(lab: Lab) -> None:
    gone = lab.tb.hosts[2]
    lab.tb.net_down(gone)
    try:
        proc = lab.run("down", "--yes", "--ssh-wait", "2")
        assert proc.returncode == 6
        line = error_line(proc.stderr)
        assert "lab-client-2" in line and "did not answer" in line
        assert "`nomadctl down --force`" in line
        state = json.loads((lab.ws / "state.json").read_text())
        assert [h["name"] for h in state["hosts"]] == ["lab-client-2"]  # the rest is clean
        for host in lab.tb.hosts[:2]:
            assert lab.tb.read_file(host, "/etc/nomad.d/nomad.hcl") is None
        assert not (lab.ws / "tokens" / "management.json").exists()  # no server is left

        proc = lab.run("down", "--yes", "--force", "--ssh-wait", "2")
        assert proc.returncode == 0, proc.stderr
        assert "skipped 1 host(s) that did not answer within 2s" in proc.stderr
        assert f"lab-client-2 ({gone.address})" in proc.stderr
        assert "hosts" not in json.loads((lab.ws / "state.json").read_text())
        assert gone.address not in (lab.ws / "known_hosts").read_text()
        again = lab.run("down", "--yes")
        assert again.returncode == 0 and "Nothing to remove" in again.stdout
    finally:
        lab.tb.net_up(gone)
    assert lab.tb.read_file(gone, "/etc/nomad.d/nomad.hcl") is not None  # skipped, not wiped
    shutil.rmtree(lab.ws)
