"""The Nomad stand-in (tests/standin) behaves like Nomad where nomadctl relies on it.

Agents run as real processes on loopback addresses 127.x.y.z with Nomad's default ports.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nomad
import pytest
import requests

from tests.standin import make_binary
from tests.standin.harness import LocalAgents, Pki, Running, Spec, next_ip, render_hcl, wait_for

GOSSIP_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture(scope="session")
def standin_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_binary(tmp_path_factory.mktemp("standin-bin") / "nomad")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("standin-pki"))


@pytest.fixture
def agents(standin_binary: Path, pki: Pki, tmp_path: Path) -> Iterator[LocalAgents]:
    la = LocalAgents(standin_binary, tmp_path, pki)
    try:
        yield la
    finally:
        la.close()


def start_servers(
    agents: LocalAgents, pki: Pki, n: int = 3, tls: bool = True, **kw: object
) -> list[Running]:
    ips = [next_ip() for _ in range(n)]
    out = []
    for i, ip in enumerate(ips):
        spec = Spec(
            name=f"server-{i + 1}",
            ip=ip,
            bootstrap_expect=n,
            retry_join=ips,
            encrypt=GOSSIP_KEY,
            tls=pki.node("server", ip) if tls else None,
            ca_file=pki.ca.cert,
            **kw,
        )  # type: ignore[arg-type]
        out.append(agents.start(spec))
    for a in out:
        agents.wait_http(a)
    return out


def agreed_leader(servers: list[Running]) -> str:
    leaders = {s.leader() for s in servers}
    return leaders.pop() if len(leaders) == 1 and "" not in leaders else ""


def wait_leader(
    agents: LocalAgents,
    servers: list[Running],
    timeout: float = 15.0,
    among: list[Running] | None = None,
) -> str:
    """Wait until `servers` agree on one leader, which is one of `among` (default: them)."""
    allowed = {f"{s.spec.ip}:4647" for s in (among or servers)}

    def agreed() -> str:
        leader = agreed_leader(servers)
        return leader if leader in allowed else ""

    return wait_for(agreed, timeout, what="one agreed leader", on_fail=agents.logs)


def by_leader(servers: list[Running], leader: str) -> Running:
    return next(s for s in servers if leader == f"{s.spec.ip}:4647")


def member_status(agent: Running, token: str | None = None) -> dict[str, str]:
    r = agent.api("/v1/agent/members", token=token)
    r.raise_for_status()
    return {m["Name"]: m["Status"] for m in r.json()["Members"]}


def test_version(standin_binary: Path) -> None:
    for flag in ("version", "-version", "--version"):
        out = subprocess.run(
            [str(standin_binary), flag], capture_output=True, text=True, check=True
        ).stdout
        assert out.startswith("Nomad v1.11.0\n")
    custom = make_binary(standin_binary.with_name("nomad-custom"), version="1.10.5")
    out = subprocess.run([str(custom), "version"], capture_output=True, text=True).stdout
    assert out.startswith("Nomad v1.10.5\n")
    assert standin_binary.read_bytes().startswith(b"#!/")


def test_three_servers_elect_fail_over_and_lose_quorum(agents: LocalAgents, pki: Pki) -> None:
    servers = start_servers(agents, pki, acl=False, leave_on_terminate=True)
    leader = wait_leader(agents, servers)
    assert leader in {f"{s.spec.ip}:4647" for s in servers}

    body = servers[1].api("/v1/agent/members").json()
    assert body["ServerName"] == "server-2"
    assert (body["ServerRegion"], body["ServerDC"]) == ("global", "dc1")
    assert sorted(m["Name"] for m in body["Members"]) == [
        "server-1.global",
        "server-2.global",
        "server-3.global",
    ]
    for m in body["Members"]:
        assert m["Status"] == "alive" and m["Port"] == 4648
        assert m["Addr"] in {s.spec.ip for s in servers}
        tags = m["Tags"]
        assert tags["role"] == "nomad" and tags["region"] == "global" and tags["dc"] == "dc1"
        assert tags["port"] == "4647" and tags["rpc_addr"] == m["Addr"]
        assert tags["raft_vsn"] == "3" and tags["build"] == "1.11.0" and tags["vsn"]
        assert uuid.UUID(tags["id"])
        for k in (
            "ProtocolMin",
            "ProtocolMax",
            "ProtocolCur",
            "DelegateMin",
            "DelegateMax",
            "DelegateCur",
        ):
            assert isinstance(m[k], int)
    peers = servers[0].api("/v1/status/peers").json()
    assert sorted(peers) == sorted(f"{s.spec.ip}:4647" for s in servers)
    raft = servers[0].api("/v1/operator/raft/configuration").json()
    assert [x["Address"] for x in raft["Servers"] if x["Leader"]] == [leader]

    # Stop the leader without a leave (SIGINT, leave_on_interrupt unset): it becomes failed.
    old = by_leader(servers, leader)
    t0 = time.monotonic()
    assert agents.stop(old, signal.SIGINT) == 1  # Nomad exits 1 when it does not leave
    rest = [s for s in servers if s is not old]
    new_leader = wait_leader(agents, rest, timeout=10)
    assert new_leader != leader
    wait_for(
        lambda: member_status(rest[0])[f"{old.spec.name}.global"] == "failed",
        10,
        what="stopped leader reported failed",
        on_fail=agents.logs,
    )
    failover = time.monotonic() - t0
    assert failover < 10

    # Stop one more with SIGTERM + leave_on_terminate: left, and no quorum for the last one.
    second = by_leader(rest, new_leader)
    last = next(s for s in rest if s is not second)
    assert agents.stop(second) == 0
    wait_for(lambda: last.leader() == "", 10, what="no leader with 1 of 3", on_fail=agents.logs)
    status = member_status(last)
    assert status[f"{second.spec.name}.global"] == "left"
    assert status[f"{old.spec.name}.global"] == "failed"
    r = last.api("/v1/nodes")
    assert (r.status_code, r.text) == (500, "No cluster leader")


def test_acl_bootstrap_tokens_and_reset(agents: LocalAgents, pki: Pki) -> None:
    ips = [next_ip() for _ in range(3)]
    specs = [
        Spec(
            name=f"s{i}",
            ip=ip,
            retry_join=ips,
            encrypt=GOSSIP_KEY,
            tls=pki.node("server", ip),
            ca_file=pki.ca.cert,
        )
        for i, ip in enumerate(ips)
    ]
    first = agents.start(specs[0])
    agents.wait_http(first)
    r = first.api("/v1/acl/bootstrap", "POST")
    assert (r.status_code, r.text) == (500, "No cluster leader")
    assert r.headers["Content-Type"].startswith("text/plain")
    assert first.leader() == ""

    servers = [first, *(agents.start(s) for s in specs[1:])]
    leader = wait_leader(agents, servers)

    r = servers[2].api("/v1/acl/bootstrap", "PUT")
    assert r.status_code == 200, r.text
    token = r.json()
    mgmt = token["SecretID"]
    assert token["Name"] == "Bootstrap Token" and token["Type"] == "management"
    assert token["Policies"] is None and token["Global"] is True
    assert uuid.UUID(token["AccessorID"]) and uuid.UUID(mgmt)
    for k in ("Roles", "CreateTime", "ExpirationTime", "CreateIndex", "ModifyIndex"):
        assert k in token
    n = token["CreateIndex"]

    for s in servers:
        r = s.api("/v1/acl/bootstrap", "POST")
        assert (r.status_code, r.text) == (400, f"ACL bootstrap already done (reset index: {n})")

    # Permissions: no token, unknown token, management token.
    for path in (
        "/v1/agent/members",
        "/v1/nodes",
        "/v1/agent/self",
        "/v1/operator/raft/configuration",
        "/v1/jobs",
    ):
        r = servers[0].api(path)
        assert (r.status_code, r.text) == (403, "Permission denied"), path
        r = servers[0].api(path, token=str(uuid.uuid4()))
        assert (r.status_code, r.text) == (403, "ACL token not found"), path
        r = servers[0].api(path, token=mgmt)
        assert r.status_code == 200, (path, r.text)
    r = servers[0].api("/v1/agent/members", headers={"Authorization": f"Bearer {mgmt}"})
    assert r.status_code == 200

    # A client token from a policy: node + agent read only.
    rules = (
        'node {\n  policy = "read"\n}\nagent {\n  policy = "read"\n}\n'
        'namespace "*" {\n  policy = "read"\n}\n'
    )
    r = servers[1].api(
        "/v1/acl/policy/readonly",
        "POST",
        token=mgmt,
        json={"Name": "readonly", "Description": "ro", "Rules": rules},
    )
    assert r.status_code == 200, r.text
    r = servers[1].api(
        "/v1/acl/token",
        "POST",
        token=mgmt,
        json={"Name": "ro", "Type": "client", "Policies": ["readonly"]},
    )
    assert r.status_code == 200, r.text
    ro = r.json()
    assert ro["Type"] == "client" and ro["Policies"] == ["readonly"]
    assert servers[0].api("/v1/agent/members", token=ro["SecretID"]).status_code == 200
    assert servers[0].api("/v1/jobs", token=ro["SecretID"]).status_code == 200
    r = servers[0].api("/v1/operator/raft/configuration", token=ro["SecretID"])
    assert (r.status_code, r.text) == (403, "Permission denied")
    r = servers[0].api(
        "/v1/jobs",
        "POST",
        token=ro["SecretID"],
        json={"Job": {"ID": "x", "Name": "x", "Datacenters": ["dc1"]}},
    )
    assert (r.status_code, r.text) == (403, "Permission denied")
    assert servers[0].api("/v1/acl/token/self", token=ro["SecretID"]).json()["Name"] == "ro"
    policies = servers[0].api("/v1/acl/policies", token=mgmt).json()
    assert [p["Name"] for p in policies] == ["readonly"]
    assert len(servers[0].api("/v1/acl/tokens", token=mgmt).json()) == 2

    # Reset: the leader's <data_dir>/server/acl-bootstrap-reset allows one more bootstrap.
    lead = by_leader(servers, leader)
    reset_file = lead.data_dir / "server" / "acl-bootstrap-reset"
    reset_file.write_text(f"{n}\n")
    r = servers[0].api("/v1/acl/bootstrap", "POST")
    assert r.status_code == 200, r.text
    second = r.json()
    m = second["CreateIndex"]
    assert m > n and second["SecretID"] != mgmt
    r = servers[0].api("/v1/acl/bootstrap", "POST")
    assert (r.status_code, r.text) == (
        400,
        f"Invalid bootstrap reset index (specified {n}, reset index: {m})",
    )
    reset_file.unlink()

    # The state is replicated: a new leader knows the bootstrap and the tokens.
    agents.stop(lead)
    rest = [s for s in servers if s is not lead]
    new_leader = wait_leader(agents, rest, timeout=10)
    assert new_leader != leader
    r = rest[0].api("/v1/acl/bootstrap", "POST")
    assert (r.status_code, r.text) == (400, f"ACL bootstrap already done (reset index: {m})")
    for secret in (mgmt, second["SecretID"], ro["SecretID"]):
        assert rest[1].api("/v1/agent/members", token=secret).status_code == 200
    state = json.loads((rest[0].data_dir / "server" / "state.json").read_text())
    assert state["acl_bootstrap_index"] == m


def test_acl_disabled_and_bootstrap_secret(agents: LocalAgents, pki: Pki) -> None:
    plain_ip, acl_ip = next_ip(), next_ip()
    plain = agents.start(
        Spec(name="plain", ip=plain_ip, bootstrap_expect=1, acl=False, retry_join=[plain_ip])
    )
    secured = agents.start(Spec(name="secured", ip=acl_ip, bootstrap_expect=1))
    agents.wait_http(plain)
    agents.wait_http(secured)
    wait_leader(agents, [plain])
    r = plain.api("/v1/acl/bootstrap", "POST")
    assert (r.status_code, r.text) == (400, "ACL support disabled")
    assert plain.api("/v1/agent/members").status_code == 200  # no ACLs, no token needed

    wait_leader(agents, [secured])
    secret = str(uuid.uuid4())
    r = secured.api("/v1/acl/bootstrap", "POST", json={"BootstrapSecret": secret})
    assert r.status_code == 200 and r.json()["SecretID"] == secret
    assert secured.api("/v1/agent/members", token=secret).status_code == 200
    assert set(member_status(plain)) == {"plain.global"}


def test_gossip_keys_must_match(agents: LocalAgents, pki: Pki) -> None:
    ips = [next_ip(), next_ip()]
    a = agents.start(
        Spec(name="a", ip=ips[0], bootstrap_expect=2, retry_join=ips, acl=False, encrypt=GOSSIP_KEY)
    )
    b = agents.start(
        Spec(
            name="b",
            ip=ips[1],
            bootstrap_expect=2,
            retry_join=ips,
            acl=False,
            encrypt=base64.b64encode(b"x" * 16).decode(),
        )
    )
    agents.wait_http(a)
    agents.wait_http(b)
    wait_for(
        lambda: "failed to decrypt" in a.log() or "failed to decrypt" in b.log(),
        10,
        what="gossip decryption failures",
        on_fail=agents.logs,
    )
    assert set(member_status(a)) == {"a.global"}
    assert set(member_status(b)) == {"b.global"}
    assert a.leader() == "" and b.leader() == ""


def test_https_requires_client_certificate_from_the_ca(
    agents: LocalAgents, pki: Pki, tmp_path: Path
) -> None:
    ip = next_ip()
    server = agents.start(
        Spec(
            name="tls",
            ip=ip,
            bootstrap_expect=1,
            retry_join=[ip],
            tls=pki.node("server", ip),
            ca_file=pki.ca.cert,
        )
    )
    agents.wait_http(server)
    url = f"https://{ip}:4646/v1/status/leader"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, verify=str(pki.ca.cert), timeout=5)
    stranger = pki.node("cli", "127.0.0.1", ca=pki.other_ca)
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(
            url, verify=str(pki.ca.cert), cert=(str(stranger.cert), str(stranger.key)), timeout=5
        )
    r = requests.get(
        url, verify=str(pki.ca.cert), cert=(str(pki.cli.cert), str(pki.cli.key)), timeout=5
    )
    assert r.status_code == 200
    wait_for(lambda: "TLS handshake error" in server.log(), 5, what="handshake error logged")

    # The server certificate verifies against the CA for the name server.global.nomad.
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.load_cert_chain(str(pki.cli.cert), str(pki.cli.key))
    with (
        socket.create_connection((ip, 4646), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="server.global.nomad") as tls,
    ):
        names = [v for k, v in tls.getpeercert()["subjectAltName"] if k == "DNS"]
        assert "server.global.nomad" in names
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection((ip, 4646), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="client.global.nomad"),
    ):
        pass


REFUSALS = {
    "no data_dir": ("", 'Must specify "data_dir"'),
    "relative data_dir": ('data_dir = "var/nomad"', "data_dir must be given as an absolute path"),
    "gossip key not base64": ('encrypt = "not base64!"', "Invalid encryption key"),
    "gossip key wrong size": (
        f'encrypt = "{base64.b64encode(b"k" * 20).decode()}"',
        "key size must be 16, 24 or 32 bytes",
    ),
    "missing key file": ("tls-missing-key", "no such file or directory"),
    "cert from another CA": ("tls-other-ca", "certificate signed by unknown authority"),
    "key does not match cert": ("tls-wrong-key", "private key does not match public key"),
    "CA file without a certificate": ("tls-bad-ca", "Failed to parse any CA certificates"),
    "config HCL malformed": ('name = "unterminated', "At 3:8: literal not terminated"),
    "server cert without server name": ("tls-no-name", "server.global.nomad"),
    "client cert without client name": ("tls-client-no-name", "client.global.nomad"),
    "neither server nor client": ("no-role", "Must specify either server, client"),
    "bootstrap_expect 0": ("expect-0", "bootstrap_expect"),
}


def _refusal_hcl(case: str, pki: Pki, data_dir: Path) -> str:
    ip = "127.0.0.1"
    good = pki.node("server", ip)
    tls = {"ca": pki.ca.cert, "cert": good.cert, "key": good.key}
    role = "server {\n  enabled = true\n  bootstrap_expect = 1\n  ENC\n}\n"
    setting, _ = REFUSALS[case]
    enc = setting if setting.startswith("encrypt") else ""
    hcl = f'data_dir = "{data_dir}"\nbind_addr = "{ip}"\n'
    if setting.startswith("name"):
        hcl += setting + "\n"
    if setting.startswith("data_dir") or case == "no data_dir":
        hcl = f'bind_addr = "{ip}"\n{setting}\n'
    if setting == "tls-missing-key":
        tls["key"] = data_dir / "missing-key.pem"
    elif setting == "tls-other-ca":
        other = pki.node("server", ip, ca=pki.other_ca)
        tls["cert"], tls["key"] = other.cert, other.key
    elif setting == "tls-wrong-key":
        tls["key"] = pki.node("server", "127.0.0.2").key
    elif setting == "tls-bad-ca":
        tls["ca"] = data_dir.parent / "not-a-ca.pem"
        tls["ca"].write_text("not a certificate\n")
    elif setting == "tls-no-name":
        bad = pki.node("server", ip, include_role_name=False)
        tls["cert"], tls["key"] = bad.cert, bad.key
    elif setting == "tls-client-no-name":
        bad = pki.node("client", ip, include_role_name=False)
        tls["cert"], tls["key"] = bad.cert, bad.key
        role = 'client {\n  enabled = true\n  servers = ["127.0.0.1"]\n}\n'
    elif setting == "no-role":
        role = ""
    elif setting == "expect-0":
        role = role.replace("bootstrap_expect = 1", "bootstrap_expect = 0")
    hcl += role.replace("ENC", enc)
    if setting.startswith("tls"):
        hcl += (
            f'tls {{\n  http = true\n  rpc = true\n  ca_file = "{tls["ca"]}"\n'
            f'  cert_file = "{tls["cert"]}"\n  key_file = "{tls["key"]}"\n'
            f"  verify_server_hostname = true\n}}\n"
        )
    return hcl


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refuses_bad_configuration(
    case: str, standin_binary: Path, pki: Pki, tmp_path: Path
) -> None:
    conf = tmp_path / "nomad.d"
    conf.mkdir()
    (conf / "nomad.hcl").write_text(_refusal_hcl(case, pki, tmp_path / "data"))
    proc = subprocess.run(
        [str(standin_binary), "agent", "-config", str(conf)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("==> Error")]
    assert errors, proc.stderr
    assert REFUSALS[case][1] in errors[0], proc.stderr


def test_clients_register_jobs_and_python_nomad(agents: LocalAgents, pki: Pki) -> None:
    sip = next_ip()
    server = agents.start(
        Spec(
            name="srv",
            ip=sip,
            bootstrap_expect=1,
            retry_join=[sip],
            encrypt=GOSSIP_KEY,
            tls=pki.node("server", sip),
            ca_file=pki.ca.cert,
        )
    )
    agents.wait_http(server)
    n = nomad.Nomad(
        host=sip,
        secure=True,
        port=4646,
        verify=str(pki.ca.cert),
        cert=(str(pki.cli.cert), str(pki.cli.key)),
        timeout=5,
    )
    wait_for(
        lambda: n.status.leader.get_leader() == f"{sip}:4647",
        10,
        what="leader",
        on_fail=agents.logs,
    )
    token = n.acl.generate_bootstrap()
    assert token["Type"] == "management"
    with pytest.raises(nomad.api.exceptions.BadRequestNomadException) as exc:
        n.acl.generate_bootstrap()
    assert exc.value.nomad_resp.text.startswith("ACL bootstrap already done (reset index: ")
    with pytest.raises(nomad.api.exceptions.URLNotAuthorizedNomadException):
        n.agent.get_members()
    n = nomad.Nomad(
        host=sip,
        secure=True,
        port=4646,
        verify=str(pki.ca.cert),
        cert=(str(pki.cli.cert), str(pki.cli.key)),
        token=token["SecretID"],
        timeout=5,
    )
    assert [m["Name"] for m in n.agent.get_members()["Members"]] == ["srv.global"]
    assert n.status.peers.get_peers() == [f"{sip}:4647"]
    assert n.agent.get_agent()["config"]["ACL"]["Enabled"] is True
    assert n.operator.get_configuration()["Servers"][0]["Leader"] is True

    layout = [("c1", "dc1", "default"), ("c2", "dc2", "default"), ("c3", "dc2", "gpu")]
    clients = []
    for name, dc, pool in layout:
        ip = next_ip()
        clients.append(
            agents.start(
                Spec(
                    name=name,
                    ip=ip,
                    server=False,
                    client=True,
                    servers=[sip],
                    datacenter=dc,
                    node_pool=pool,
                    tls=pki.node("client", ip),
                    ca_file=pki.ca.cert,
                )
            )
        )

    def ready() -> list[dict[str, object]]:
        nodes = n.nodes.get_nodes()
        return nodes if len([x for x in nodes if x["Status"] == "ready"]) == 3 else []

    nodes = wait_for(ready, 15, what="3 ready nodes", on_fail=agents.logs)
    got = sorted((x["Name"], x["Datacenter"], x["NodePool"]) for x in nodes)
    assert got == sorted(layout)
    for x in nodes:
        assert x["Address"] in {c.spec.ip for c in clients}
        assert x["Version"] == "1.11.0" and x["Drain"] is False
        assert x["SchedulingEligibility"] == "eligible" and x["NodeClass"] == ""
        assert x["CreateIndex"] <= x["ModifyIndex"]
    one = n.node.get_node(nodes[0]["ID"])
    assert one["Meta"] == {"rack": "r1"}

    job_hcl = """
job "web" {
  datacenters = ["dc2"]
  type = "service"
  group "web" {
    count = 2
    network {
      port "http" { to = 8080 }
    }
    task "nginx" {
      driver = "docker"
      config {
        image = "nginx:1.27"
        ports = ["http"]
      }
      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
"""
    parsed = n.jobs.parse(job_hcl, canonicalize=True)
    assert parsed["ID"] == "web" and parsed["Datacenters"] == ["dc2"]
    group = parsed["TaskGroups"][0]
    assert group["Name"] == "web" and group["Count"] == 2
    task = group["Tasks"][0]
    assert task["Driver"] == "docker" and task["Config"]["image"] == "nginx:1.27"
    assert task["Resources"] == {"CPU": 200, "MemoryMB": 128}
    assert group["Networks"][0]["DynamicPorts"][0]["Label"] == "http"

    reply = n.jobs.register_job({"Job": parsed})
    assert uuid.UUID(reply["EvalID"]) and reply["JobModifyIndex"] > 0
    jobs = n.jobs.get_jobs()
    assert [(j["ID"], j["Status"], j["Type"], j["Namespace"]) for j in jobs] == [
        ("web", "running", "service", "default")
    ]

    # A client agent forwards API calls to the servers.
    via_client = clients[0]
    r = via_client.api("/v1/jobs", token=token["SecretID"])
    assert [j["ID"] for j in r.json()] == ["web"]
    assert via_client.leader() == f"{sip}:4647"
    assert via_client.api("/v1/agent/members").status_code == 403
    r = via_client.api("/v1/agent/self", token=token["SecretID"])
    assert r.json()["stats"]["client"]["node_id"]

    # A stopped client goes down.
    agents.stop(clients[2])
    wait_for(
        lambda: {x["Name"]: x["Status"] for x in n.nodes.get_nodes()}["c3"] == "down",
        15,
        what="c3 down",
        on_fail=agents.logs,
    )


def test_render_hcl_is_what_the_agent_reads(tmp_path: Path) -> None:
    """The harness's HCL goes through the agent's own parser (no process needed)."""
    from tests.standin.agent import config as agent

    spec = Spec(
        name="n1",
        ip="127.0.0.9",
        retry_join=["127.0.0.9", "10.0.0.1:4648"],
        encrypt=GOSSIP_KEY,
        client=True,
        servers=["127.0.0.9"],
        node_pool="p",
        extra='ports {\n  http = 5646\n}\nsyslog_facility = "LOCAL0"',
    )
    conf = tmp_path / "c"
    conf.mkdir()
    (conf / "10-base.hcl").write_text(render_hcl(spec, "/opt/nomad"))
    (conf / "20-override.hcl").write_text('datacenter = "dc9"\nserver {\n  encrypt = ""\n}\n')
    raw, files = agent.load_config_files([str(conf)])
    cfg = agent.build_config(raw, files, {})
    assert cfg.name == "n1" and cfg.datacenter == "dc9" and cfg.data_dir == "/opt/nomad"
    assert cfg.server_enabled and cfg.bootstrap_expect == 3 and cfg.encrypt == ""
    assert cfg.retry_join == ["127.0.0.9", "10.0.0.1:4648"]
    assert cfg.client_enabled and cfg.client_servers == ["127.0.0.9"] and cfg.node_pool == "p"
    assert cfg.meta == {"rack": "r1"} and cfg.acl_enabled
    assert cfg.ports["http"] == 5646 and cfg.advertise["rpc"] == ("127.0.0.9", 4647)
    assert cfg.plugins["docker"]["config"]["allow_privileged"] is False
    assert cfg.ignored == ["syslog_facility"]  # Nomad's, not modelled (unknown keys: strict.py)
    assert files == [str(conf / "10-base.hcl"), str(conf / "20-override.hcl")]


def test_rpc_needs_certificates_from_the_same_ca(agents: LocalAgents, pki: Pki) -> None:
    """Gossip works (same key), but raft over mutual TLS does not: members, no leader."""
    ips = [next_ip(), next_ip()]
    a = agents.start(
        Spec(
            name="a",
            ip=ips[0],
            bootstrap_expect=2,
            retry_join=ips,
            acl=False,
            encrypt=GOSSIP_KEY,
            tls=pki.node("server", ips[0]),
            ca_file=pki.ca.cert,
        )
    )
    b = agents.start(
        Spec(
            name="b",
            ip=ips[1],
            bootstrap_expect=2,
            retry_join=ips,
            acl=False,
            encrypt=GOSSIP_KEY,
            tls=pki.node("server", ips[1], ca=pki.other_ca),
            ca_file=pki.other_ca.cert,
        )
    )
    agents.wait_http(a)
    wait_for(
        lambda: member_status(a).get("b.global") == "alive",
        10,
        what="b gossips with a",
        on_fail=agents.logs,
    )
    wait_for(
        lambda: "rpc: TLS handshake error" in a.log(),
        10,
        what="rpc TLS refused",
        on_fail=agents.logs,
    )
    time.sleep(1.5)  # several election rounds: still nobody may win
    assert a.leader() == ""
    assert b.alive()


def test_json_config_merges_with_hcl(tmp_path: Path) -> None:
    from tests.standin.agent import config as agent

    conf = tmp_path / "c"
    conf.mkdir()
    (conf / "a.hcl").write_text(
        'data_dir = "/opt/nomad"\nserver {\n  enabled = true\n  bootstrap_expect = 3\n}\n'
    )
    (conf / "b.json").write_text(
        json.dumps(
            {
                "region": "eu",
                "server": [{"bootstrap_expect": 1, "server_join": {"retry_join": ["10.0.0.1"]}}],
                "acl": {"enabled": True},
            }
        )
    )
    raw, files = agent.load_config_files([str(conf)])
    cfg = agent.build_config(raw, files, {})
    assert (cfg.region, cfg.server_enabled, cfg.bootstrap_expect) == ("eu", True, 1)
    assert cfg.retry_join == ["10.0.0.1"] and cfg.acl_enabled
    (conf / "c.hcl").write_text("server {\n  enabled = \n}\n")
    with pytest.raises(agent.AgentError, match=r"c\.hcl"):
        agent.load_config_files([str(conf)])
