"""`nomadctl up` on hosts you already have: six real SSH hosts, the Nomad stand-in uploaded
as the binary, then the API commands against the running agents.

Real: OpenSSH servers in network namespaces, paramiko, TLS with the cluster's certificates,
python-nomad over HTTPS. Stand-in: the `nomad` binary (tests/standin) and systemctl (shim).
The tests in this module share one cluster and run in order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import hcl2
import pytest

from tests.standin import make_binary

pytestmark = pytest.mark.testbed


class Cluster:
    def __init__(self, tb, home: Path, binary: Path) -> None:
        self.tb, self.home, self.binary = tb, home, binary
        self.servers = tb.hosts[:3]
        self.clients = tb.hosts[3:]

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 240):
        full = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            "NOMADCTL_HOME": str(self.home),
            "NOMADCTL_CLUSTER": "tb",
            "COLUMNS": "200",
            **(env or {}),
        }
        return subprocess.run(
            [sys.executable, "-m", "nomadctl", *args],
            capture_output=True,
            text=True,
            env=full,
            timeout=timeout,
        )

    def up(self, *extra: str, datacenter: str = "dc1"):
        args = ["up", "--yes", "--json", "--no-docker", "--ssh-user", "ubuntu"]
        args += ["--ssh-key", str(self.tb.key_path), "--nomad-binary", str(self.binary)]
        args += ["--datacenter", datacenter, "--leader-timeout", "60"]
        for h in self.servers:
            args += ["--server", h.address]
        for h in self.clients:
            args += ["--client", h.address]
        return self.run(*args, *extra)

    def agent_pids(self) -> list[int | None]:
        return [self.tb.unit_pid(h) for h in self.tb.hosts]


@pytest.fixture(scope="module")
def cluster(testbed_factory_module, tmp_path_factory) -> Cluster:
    tb = testbed_factory_module(6)
    tmp = tmp_path_factory.mktemp("static")
    return Cluster(tb, tmp / "home", make_binary(tmp / "nomad"))


def unquote(v):
    if isinstance(v, str) and v[:1] == v[-1:] == '"':
        return v[1:-1]
    if isinstance(v, dict):
        return {unquote(k): unquote(x) for k, x in v.items() if k != "__is_block__"}
    if isinstance(v, list):
        return [unquote(x) for x in v]
    return v


def test_up_configures_six_hosts(cluster: Cluster) -> None:
    proc = cluster.up()
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [h["status"] for h in report["hosts"]] == ["configured"] * 6
    assert report["leader"] and report["acl"] == "bootstrapped"
    tb = cluster.tb
    gossip = (cluster.home / "tb" / "gossip.key").read_text().strip()
    for i, host in enumerate(tb.hosts):
        role = "server" if i < 3 else "client"
        text = tb.read_file(host, "/etc/nomad.d/nomad.hcl")
        assert text is not None
        cfg = unquote(hcl2.loads(text.decode()))
        assert cfg["name"] == f"tb-{role}-{i + 1 if role == 'server' else i - 2}"
        assert cfg["advertise"][0]["rpc"] == host.address
        assert cfg["tls"][0]["verify_https_client"] is True
        # What an agent reads only at start is in join.hcl (a change there restarts nothing).
        join = unquote(hcl2.loads(tb.read_file(host, "/etc/nomad.d/join.hcl").decode()))
        if role == "server":
            assert cfg["server"][0]["encrypt"] == gossip
            assert join["server"][0]["bootstrap_expect"] == 3
            assert "bootstrap_expect" not in cfg["server"][0]
        else:
            assert gossip not in text.decode()
            assert join["client"][0]["servers"] == [s.address for s in cluster.servers]
        assert tb.file_mode(host, "/etc/nomad.d/tls/ca.pem") == 0o644
        assert tb.file_mode(host, "/usr/local/bin/nomad") == 0o755
        assert tb.read_file(host, "/usr/local/bin/nomad") == cluster.binary.read_bytes()
        assert tb.unit_pid(host) is not None, tb.unit_log(host)
        assert_least_privilege(tb, host, role)
    # Node certificates name the node's own address; no token was left on a node.
    from cryptography import x509

    pem = tb.read_file(tb.hosts[0], "/etc/nomad.d/tls/node.pem")
    ips = (
        x509.load_pem_x509_certificate(pem)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value.get_values_for_type(x509.IPAddress)
    )
    assert tb.hosts[0].address in [str(ip) for ip in ips]
    secret = json.loads((cluster.home / "tb/tokens/management.json").read_text())["SecretID"]
    for host in tb.hosts:
        found = tb.exec(host, ["grep", "-rl", secret, "/etc/nomad.d", "/home/ubuntu"], check=False)
        assert found.stdout.strip() == ""
    assert (cluster.home / "tb/tokens/management.json").stat().st_mode & 0o777 == 0o600


def agent_uid(tb, host) -> int:
    """The real uid of the host's running agent (/proc/<pid>/status `Uid:` line)."""
    pid = tb.unit_pid(host)
    assert pid is not None, tb.unit_log(host)
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


def nomad_ids(tb, host) -> tuple[int, int]:
    """uid and gid of the host's own `nomad` user (its /etc is its own)."""
    out = tb.exec(host, "id -u nomad; id -g nomad").stdout.split()
    return int(out[0]), int(out[1])


def assert_least_privilege(tb, host, role: str) -> None:
    """Servers run as `nomad`, which owns the data dir (0700) and reads its secrets (0640
    root:nomad); clients run as root with everything root's (issue 28 point 7)."""
    secrets = ("/etc/nomad.d/nomad.hcl", "/etc/nomad.d/join.hcl", "/etc/nomad.d/tls/node-key.pem")
    data = "/opt/nomad/data"
    if role == "client":
        assert agent_uid(tb, host) == 0
        assert tb.file_owner(host, data) == (0, 0) and tb.file_mode(host, data) == 0o700
        for path in secrets:
            assert (tb.file_owner(host, path), tb.file_mode(host, path)) == ((0, 0), 0o600)
        return
    uid, gid = nomad_ids(tb, host)
    assert uid != 0 and agent_uid(tb, host) == uid
    assert tb.file_owner(host, data) == (uid, gid) and tb.file_mode(host, data) == 0o700
    for path in secrets:
        assert (tb.file_owner(host, path), tb.file_mode(host, path)) == ((0, gid), 0o640)
    for path in ("/etc/nomad.d", "/etc/nomad.d/tls", "/opt/nomad"):
        assert (tb.file_owner(host, path), tb.file_mode(host, path)) == ((0, gid), 0o750)
    not_nomad = tb.exec(host, ["find", data, "!", "-user", "nomad"]).stdout
    assert not_nomad == "", not_nomad  # the agent wrote there as nomad; nothing is root's


def test_status_json_and_table(cluster: Cluster) -> None:
    proc = cluster.run("status", "--json", "--wait", "30")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    members = data["members"]
    assert len(members) == 3 and {m["Status"] for m in members} == {"alive"}
    assert sorted(m["Tags"]["Leader"] for m in members) == ["false", "false", "true"]
    assert [m["Name"] for m in members] == [
        "tb-server-1.global",
        "tb-server-2.global",
        "tb-server-3.global",
    ]
    assert len(data["nodes"]) == 3 and {n["Status"] for n in data["nodes"]} == {"ready"}
    table = cluster.run("status")
    assert table.returncode == 0
    header = table.stdout.splitlines()[0].split()
    assert header[:5] == ["Name", "Address", "Port", "Status", "Leader"]


def test_second_up_changes_nothing(cluster: Cluster) -> None:
    before = cluster.agent_pids()
    proc = cluster.up()
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [h["status"] for h in report["hosts"]] == ["unchanged"] * 6
    assert all(h["ssh"]["connections"] == 1 and h["ssh"]["commands"] == 1 for h in report["hosts"])
    assert report["acl"] == "already"
    assert cluster.agent_pids() == before


# What nomadctl put on a server before servers ran as `nomad`: a unit without User= and
# everything root's; the agent restarted to run that way.
OLD_WAY = """set -eu
sed -i '/^User=/d;/^Group=/d' /etc/systemd/system/nomad.service
chown -R root:root /etc/nomad.d /opt/nomad
chmod 0700 /etc/nomad.d /etc/nomad.d/tls /opt/nomad
chmod 0600 /etc/nomad.d/nomad.hcl /etc/nomad.d/join.hcl /etc/nomad.d/tls/node-key.pem
systemctl stop nomad
chown -R root:root /opt/nomad/data
systemctl start nomad
"""


def test_root_servers_move_to_nomad_by_a_roll(cluster: Cluster) -> None:
    """A cluster made when servers ran as root: a re-run `up` changes their unit and owners
    and restarts them one at a time, each checked healthy before the next (issue 28 point 7)."""
    tb = cluster.tb
    for host in cluster.servers:  # one at a time, the cluster settled after each
        tb.exec(host, OLD_WAY)
        assert agent_uid(tb, host) == 0
        assert cluster.run("status", "--wait", "60").returncode == 0
    clients_before = cluster.agent_pids()[3:]
    proc = cluster.up()
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    by_name = {h["name"]: h for h in report["hosts"]}
    steps = re.findall(r"(tb-server-\d): (restarting|restarted, servers healthy)", proc.stderr)
    names = [name for name, _ in steps[::2]]
    assert sorted(names) == ["tb-server-1", "tb-server-2", "tb-server-3"]
    assert steps == [(n, w) for n in names for w in ("restarting", "restarted, servers healthy")]
    for host in cluster.servers:
        name = f"tb-server-{cluster.servers.index(host) + 1}"
        assert (
            by_name[name]["restarted"]
            and "/etc/systemd/system/nomad.service" in (by_name[name]["changed"])
        )
        assert_least_privilege(tb, host, "server")
    assert [by_name[f"tb-client-{i}"]["status"] for i in (1, 2, 3)] == ["unchanged"] * 3
    assert cluster.agent_pids()[3:] == clients_before
    assert cluster.run("status", "--wait", "30").returncode == 0


def test_acl_bootstrap_again_and_reset(cluster: Cluster) -> None:
    proc = cluster.run("acl-bootstrap")
    assert proc.returncode == 0, proc.stderr
    assert "already bootstrapped" in proc.stderr
    token_file = cluster.home / "tb/tokens/management.json"
    old = json.loads(token_file.read_text())["SecretID"]
    assert old not in proc.stdout + proc.stderr, "the secret is shown only on request"

    token_file.unlink()
    proc = cluster.run("acl-bootstrap")
    assert proc.returncode != 0
    assert "already bootstrapped" in proc.stderr and "--reset" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    proc = cluster.run("acl-bootstrap", "--reset", "--json", "--show-secret")
    assert proc.returncode == 0, proc.stderr
    new = json.loads(proc.stdout)["token"]["SecretID"]
    assert new and new != old
    assert json.loads(token_file.read_text())["SecretID"] == new
    assert cluster.run("status").returncode == 0  # the new token works


def nomad_env(cluster: Cluster) -> dict[str, str]:
    proc = cluster.run("env")
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run(
        ["bash", "-c", proc.stdout + "\nenv -0"], capture_output=True, text=True, check=True
    ).stdout
    env = dict(kv.split("=", 1) for kv in out.split("\0") if "=" in kv)
    return {k: v for k, v in env.items() if k.startswith("NOMAD_")}


UNNAMED = {"NOMADCTL_CLUSTER": ""}  # no cluster named: NOMAD_ADDR is followed (issue 15)

PY_NOMAD = """
import os, sys, nomad
n = nomad.Nomad(verify=os.environ["NOMAD_CACERT"], timeout=5)
try:
    print(len(n.agent.get_members()["Members"]))
except nomad.api.exceptions.URLNotAuthorizedNomadException:
    print("403"); sys.exit(3)
"""


def test_env_drives_python_nomad(cluster: Cluster) -> None:
    env = nomad_env(cluster)
    assert set(env) >= {
        "NOMAD_ADDR",
        "NOMAD_CACERT",
        "NOMAD_CLIENT_CERT",
        "NOMAD_CLIENT_KEY",
        "NOMAD_TLS_SERVER_NAME",
        "NOMAD_REGION",
        "NOMAD_TOKEN",
    }
    assert env["NOMAD_ADDR"].startswith("https://")
    base = {"PATH": os.environ["PATH"]}
    ok = subprocess.run(
        [sys.executable, "-c", PY_NOMAD],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "3", ok.stderr

    no_token = {k: v for k, v in env.items() if k != "NOMAD_TOKEN"}
    denied = subprocess.run(
        [sys.executable, "-c", PY_NOMAD],
        env={**base, **no_token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert denied.returncode == 3 and denied.stdout.strip() == "403"
    # nomadctl itself, steered by the same variables, reports it in one line.
    proc = cluster.run("status", env={**no_token, "NOMADCTL_HOME": "/nonexistent", **UNNAMED})
    assert proc.returncode != 0 and "permission denied" in proc.stderr.lower()
    assert len(proc.stderr.strip().splitlines()) == 1

    no_cert = {k: v for k, v in env.items() if k not in ("NOMAD_CLIENT_CERT", "NOMAD_CLIENT_KEY")}
    proc = cluster.run("status", env={**no_cert, "NOMADCTL_HOME": "/nonexistent", **UNNAMED})
    assert proc.returncode != 0 and "unreachable" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_changed_datacenter_restarts_each_agent_once(cluster: Cluster) -> None:
    before = cluster.agent_pids()
    proc = cluster.up(datacenter="dc2")
    assert proc.returncode == 0, proc.stderr
    # A live cluster: the servers restart one at a time, then the clients (issue 18).
    restarts = re.findall(r"(tb-\w+-\d): restarting", proc.stderr)
    assert sorted(restarts[:3]) == ["tb-server-1", "tb-server-2", "tb-server-3"]
    assert sorted(restarts[3:]) == ["tb-client-1", "tb-client-2", "tb-client-3"]
    report = json.loads(proc.stdout)
    for h in report["hosts"]:
        assert h["status"] == "configured" and h["restarted"]
        assert h["changed"] == ["/etc/nomad.d/nomad.hcl"]
    after = cluster.agent_pids()
    assert all(a is not None and a != b for a, b in zip(after, before, strict=True))


def test_leader_loss_shows_in_status(cluster: Cluster) -> None:
    proc = cluster.run("status", "--json", "--wait", "30")
    assert proc.returncode == 0, proc.stderr
    members = json.loads(proc.stdout)["members"]
    leader = next(m for m in members if m["Tags"]["Leader"] == "true")
    host = cluster.tb.host(leader["Addr"])
    cluster.tb.kill_unit(host)
    try:
        deadline = time.monotonic() + 30
        while True:
            proc = cluster.run("status", "--json")
            data = json.loads(proc.stdout) if proc.stdout.strip() else {"members": []}
            status = {m["Addr"]: m["Status"] for m in data["members"]}
            leaders = [m["Addr"] for m in data["members"] if m["Tags"]["Leader"] == "true"]
            if status.get(host.address) == "failed" and leaders and leaders[0] != host.address:
                break
            assert time.monotonic() < deadline, proc.stdout + proc.stderr
            time.sleep(0.5)
        assert proc.returncode != 0  # a failed server is not healthy
        waited = cluster.run("status", "--wait", "2")
        assert waited.returncode != 0 and "failed" in waited.stderr
    finally:
        proc = cluster.up(datacenter="dc2")  # up brings the stopped agent back
    assert proc.returncode == 0, proc.stderr
    assert cluster.run("status", "--wait", "30").returncode == 0


def test_changed_host_key_is_refused(cluster: Cluster) -> None:
    known = cluster.home / "tb" / "known_hosts"
    original = known.read_text()
    victim = cluster.tb.hosts[4].address
    other_key = cluster.tb.hosts[5].host_public_key.split()
    lines = [
        f"{victim} {other_key[0]} {other_key[1]}" if line.startswith(victim + " ") else line
        for line in original.splitlines()
    ]
    assert lines != original.splitlines()
    known.write_text("\n".join(lines) + "\n")
    try:
        proc = cluster.up(datacenter="dc2")
        assert proc.returncode != 0
        assert "CHANGED" in proc.stderr and victim in proc.stderr
        report = json.loads(proc.stdout)
        assert [h["status"] for h in report["hosts"]].count("failed") == 1
    finally:
        known.write_text(original)


def test_unreachable_host_is_named_and_later_completed(cluster: Cluster) -> None:
    victim = cluster.tb.hosts[5]
    cluster.tb.net_down(victim)
    try:
        proc = cluster.up("--ssh-wait", "2", "--no-acl-bootstrap", datacenter="dc3")
        assert proc.returncode != 0
        assert "tb-client-3" in proc.stderr and victim.address in proc.stderr
        report = json.loads(proc.stdout)
        status = {h["name"]: h["status"] for h in report["hosts"]}
        assert status.pop("tb-client-3") == "failed"
        assert set(status.values()) == {"configured"}
        # The servers were all configured (rolled one at a time: the client's failure may
        # come first), so the leader wait ran while clients were still being rolled: it
        # does not wait for (or on) clients.
        assert report["leader"] and report["acl"] == "skipped"
        last_client = proc.stderr.index("tb-client-2: restarted, eligible again")
        assert proc.stderr.index("leader elected") < last_client
    finally:
        cluster.tb.net_up(victim)
    proc = cluster.up(datacenter="dc3")
    assert proc.returncode == 0, proc.stderr
    status = {h["name"]: h["status"] for h in json.loads(proc.stdout)["hosts"]}
    assert status.pop("tb-client-3") == "configured"
    assert set(status.values()) == {"unchanged"}


def test_ssh_runs_a_command_on_a_node(cluster: Cluster) -> None:
    host = cluster.tb.hosts[1]
    proc = cluster.run("ssh", "tb-server-2", "--", "hostname")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == host.hostname
    proc = cluster.run("ssh", "client-1", "--", "sudo", "-n", "cat", "/etc/nomad.d/nomad.hcl")
    assert proc.returncode == 0 and 'name       = "tb-client-1"' in proc.stdout
    proc = cluster.run("ssh", "nope", "--", "true")
    assert proc.returncode != 0 and "no node 'nope'" in proc.stderr


def _api(cluster: Cluster, method: str, path: str, body: object = None) -> tuple[int, object]:
    from nomadctl.cluster.api import _session
    from nomadctl.cluster.target import workspace_target
    from nomadctl.workspace import Workspace

    target = workspace_target(Workspace(cluster.home, "tb"))
    resp = _session(target.server_name).request(
        method,
        target.addresses[0] + path,
        json=body,
        cert=target.client_cert,
        verify=target.ca_file,
        headers={"X-Nomad-Token": target.token or ""},
        timeout=10,
    )
    return resp.status_code, (resp.json() if resp.ok and resp.content else resp.text)


def test_snapshot_restores_servers_that_lost_their_data(cluster: Cluster) -> None:
    """Issue 24 on SSH hosts: save, every server's data dir destroyed, `up`, restore."""
    task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
    job = {"ID": "kept", "Name": "kept", "Type": "service", "Datacenters": ["dc2"],
           "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [task]}]}  # fmt: skip
    assert _api(cluster, "PUT", "/v1/jobs", {"Job": job})[0] == 200
    assert _api(cluster, "PUT", "/v1/var/kept", {"Items": {"k": "v"}})[0] == 200
    saved = cluster.run("snapshot", "save", "--json")
    assert saved.returncode == 0, saved.stderr
    path = json.loads(saved.stdout)["path"]
    for host in cluster.servers:
        cluster.tb.kill_unit(host)
        cluster.tb.exec(host, "rm -rf /opt/nomad/data")
    proc = cluster.up(datacenter="dc2")
    assert proc.returncode == 0, proc.stderr
    assert _api(cluster, "GET", "/v1/job/kept")[0] == 404  # a new, empty cluster
    restored = cluster.run("snapshot", "restore", path, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert _api(cluster, "GET", "/v1/job/kept")[0] == 200
    code, var = _api(cluster, "GET", "/v1/var/kept")
    assert code == 200 and var["Items"] == {"k": "v"}  # type: ignore[index]
    assert cluster.run("status", "--wait", "30").returncode == 0


def test_down_removes_what_nomadctl_wrote(cluster: Cluster) -> None:
    dry = cluster.run("down", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert [s["name"] for s in plan["steps"]] == ["find", "snapshot", "delete", "forget"]
    assert sorted(r["id"] for r in plan["resources"]) == sorted(h.address for h in cluster.tb.hosts)
    assert cluster.tb.read_file(cluster.tb.hosts[0], "/etc/nomad.d/nomad.hcl") is not None
    proc = cluster.run("down", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {r["status"] for r in report["resources"]} == {"cleaned"}
    snapshot = next(s for s in report["steps"] if s["name"] == "snapshot")  # issue 24: a final one
    assert snapshot["status"] == "done" and snapshot["outcome"].endswith("-auto.snap")
    assert sorted(report["removed"]) == sorted(r["name"] for r in plan["resources"])
    for host in cluster.tb.hosts:
        assert cluster.tb.read_file(host, "/etc/nomad.d/nomad.hcl") is None
        assert cluster.tb.read_file(host, "/usr/local/bin/nomad") is None
        assert cluster.tb.unit_pid(host) is None
    again = cluster.run("down", "--yes")
    assert again.returncode == 0, again.stderr


def test_bastion_and_unsupported_os(testbed_factory, tmp_path) -> None:
    """A node reached through a jump host; then an OS nomadctl cannot install Nomad on."""
    tb = testbed_factory(2)
    node, jump = tb.hosts
    home = tmp_path / "home"
    binary = make_binary(tmp_path / "nomad", version="1.11.1")
    env = {**os.environ, "NOMADCTL_HOME": str(home), "NOMADCTL_CLUSTER": "jump"}
    base = [
        *(sys.executable, "-m", "nomadctl", "up", "--yes", "--json", "--no-docker"),
        *("--ssh-key", str(tb.key_path), "--server", node.address, "--leader-timeout", "60"),
        *("--bastion", f"ubuntu@{jump.address}"),
    ]
    proc = subprocess.run(
        [*base, "--nomad-binary", str(binary)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hosts"][0]["status"] == "configured"
    assert tb.unit_pid(node) is not None
    known = (home / "jump" / "known_hosts").read_text()
    assert node.address in known and jump.address in known  # went through, both keys pinned

    # The node now says it is Alpine (inside its own mount namespace only).
    tb.exec(
        node,
        "printf 'ID=alpine\\n' > /tmp/os-release && mount --bind /tmp/os-release /etc/os-release",
    )
    proc = subprocess.run(
        [*base, "--install-method", "apt"], capture_output=True, text=True, env=env, timeout=240
    )
    assert proc.returncode != 0
    assert "jump-server-1: unsupported OS 'alpine'" in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_ctrl_c_does_not_wait_for_unreachable_hosts(testbed_factory, tmp_path) -> None:
    """SIGINT while a host is unreachable: `up` stops now, not after --ssh-wait."""
    import signal

    tb = testbed_factory(2)
    tb.net_down(tb.hosts[1])
    binary = make_binary(tmp_path / "nomad", version="1.11.1")
    env = {**os.environ, "NOMADCTL_HOME": str(tmp_path / "home"), "NOMADCTL_CLUSTER": "cc"}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "nomadctl", "up", "--yes", "--no-docker"),
            *("--ssh-key", str(tb.key_path), "--nomad-binary", str(binary)),
            *("--server", tb.hosts[0].address, "--client", tb.hosts[1].address),
            *("--ssh-wait", "600"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if f"connecting to {tb.hosts[1].address}" in line:
            break
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)  # far below --ssh-wait 600
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err, err
