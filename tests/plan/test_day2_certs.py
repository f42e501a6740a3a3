"""Issue 18 point 4: certificate expiry in `status`, `certs --renew` and a two-step
`certs --rotate-ca`, each pushed by `up` as a reload (SIGHUP), never a restart.

The unit tests use the workspace and real certificates in-process; the testbed tests share one
cluster (1 server + 1 client, real sshd hosts, the stand-in agent, which reloads its TLS files
on SIGHUP as Nomad does: tests/standin/agent/day2.py) and run in order.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from nomadctl.cluster import tls_probe
from nomadctl.errors import PkiError
from nomadctl.hosts import Host
from nomadctl.node import configure, fleet, render
from nomadctl.node.configure import HostResult
from nomadctl.pki import expiry, store
from nomadctl.pki import issue as pki
from nomadctl.plan import ca_rotation
from nomadctl.plan.report import UpReport, failure_message
from nomadctl.workspace import Workspace
from tests import tls_watch
from tests.providers.hosts.test_static_cluster import Cluster
from tests.standin import make_binary


def _ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "home", "lab")
    store.ensure(ws, store.CertOptions(ca_days=100))
    return ws


def _node(ws: Workspace, name: str, ip: str, kind: pki.Kind = "server") -> x509.Certificate:
    ca = store.load_ca(ws)
    pair = store.ensure_node_cert(ws, ca, name=name, kind=kind, region="global", addresses=[ip])
    return pair.cert


def _names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    return pki.san_names(cert)


# ---- unit: renew, rotate, reload decision -----------------------------------------------------


def test_renew_keeps_names_and_ca_and_never_outlives_it(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    old_node = _node(ws, "lab-server-1", "198.18.0.9")
    cli = store.leaf_paths(ws, "cli")
    old_cli = pki.load_cert(cli.cert)
    records = store.renew(ws, store.CertOptions(days=365))
    assert {r.kind for r in records} == {"server", "client", "cli", "node"}
    assert {r.status for r in records} == {"renewed"}
    ca = store.load_ca(ws)
    new_node = pki.load_cert(store.node_paths(ws, "lab-server-1").cert)
    new_cli = pki.load_cert(cli.cert)
    for old, new in ((old_node, new_node), (old_cli, new_cli)):
        assert new.serial_number != old.serial_number
        assert new.public_key() != old.public_key()
        assert _names(new) == _names(old) and new.subject == old.subject
        assert pki.signed_by(ca.cert, new)
        # 365 days asked, but the CA ends after 100: the leaf ends with it, not after.
        assert new.not_valid_after_utc == ca.cert.not_valid_after_utc
    # The kept node certificate is the renewed one: the next `up` uploads it, issues nothing.
    assert _node(ws, "lab-server-1", "198.18.0.9").serial_number == new_node.serial_number


def test_rotation_trusts_both_until_finished(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    _node(ws, "lab-server-1", "198.18.0.9")
    old_ca = store.load_ca(ws).cert
    old_cli = pki.load_cert(store.leaf_paths(ws, "cli").cert)
    store.ensure(ws, store.CertOptions(rotate_ca=True))
    new_ca = store.load_ca(ws).cert
    assert new_ca.serial_number != old_ca.serial_number
    bundle = pki.load_certs(store.trust_file(ws))
    assert [c.serial_number for c in bundle] == [new_ca.serial_number, old_ca.serial_number]
    assert store.trust_pem(ws) == store.trust_file(ws).read_bytes()
    # The cli certificate stays the old CA's (agents not yet updated accept only that) ...
    assert pki.load_cert(store.leaf_paths(ws, "cli").cert) == old_cli
    store.ensure(ws, store.CertOptions())  # what `up` runs: the old cli cert is fine
    with pytest.raises(PkiError, match="rotation is under way"):
        store.ensure(ws, store.CertOptions(rotate_ca=True))
    with pytest.raises(PkiError, match="rotation is under way"):
        store.renew(ws, store.CertOptions())
    # ... and finishing waits until `up` gave every node a leaf of the new CA.
    with pytest.raises(PkiError, match="lab-server-1 still use"):
        store.finish_rotation(ws, store.CertOptions())
    assert pki.signed_by(new_ca, _node(ws, "lab-server-1", "198.18.0.9"))
    records = store.finish_rotation(ws, store.CertOptions())
    assert [r.status for r in records] == ["reissued", "finished"]
    assert store.trust_file(ws) == store.ca_paths(ws).cert
    assert pki.signed_by(new_ca, pki.load_cert(store.leaf_paths(ws, "cli").cert))
    assert not store.rotating(ws)
    with pytest.raises(PkiError, match="no CA rotation"):
        store.finish_rotation(ws, store.CertOptions())
    kept = list((ws.certs_dir / "ca").glob("replaced-*/*-agent-ca-key.pem"))
    assert len(kept) == 1 and kept[0].stat().st_mode & 0o777 == 0o600


def test_pass_selection_keeps_old_leaves_until_pass_two(tmp_path: Path) -> None:
    """`previous_leaves` names the nodes still presenting an old-CA leaf; pass 1
    (`keep_previous`) keeps those, a new node gets a leaf of the new CA at once."""
    ws = _ws(tmp_path)
    old = {
        n: _node(ws, n, ip)
        for n, ip in (("lab-server-1", "198.18.0.9"), ("lab-c-1", "198.18.0.10"))
    }
    names = [*old, "lab-new-1"]
    assert store.previous_leaves(ws, names) == []  # no rotation: one pass
    store.ensure(ws, store.CertOptions(rotate_ca=True))
    assert store.previous_leaves(ws, names) == ["lab-server-1", "lab-c-1"]
    ca = store.load_ca(ws)

    def issue(name: str, ip: str, keep: bool) -> x509.Certificate:
        return store.ensure_node_cert(
            ws, ca, name=name, kind="server", region="global", addresses=[ip], keep_previous=keep
        ).cert

    assert issue("lab-server-1", "198.18.0.9", True) == old["lab-server-1"]  # pass 1: kept
    assert pki.signed_by(ca.cert, issue("lab-new-1", "198.18.0.11", True))  # no old leaf
    assert store.previous_leaves(ws, names) == ["lab-server-1", "lab-c-1"]
    assert pki.signed_by(ca.cert, issue("lab-server-1", "198.18.0.9", False))  # pass 2
    assert store.previous_leaves(ws, names) == ["lab-c-1"]
    store.node_paths(ws, "lab-c-1").cert.write_text("damaged")  # re-issued anyway
    assert store.previous_leaves(ws, names) == []


def _fake_configure(ws: Workspace, hosts: list[Host], fail: str | None, log: list[str]):
    """A provider's configure: each host's leaf as nodes._all_files makes it, the CA that
    signed it logged, `fail` failing in pass 1 (it keeps its old leaf)."""

    last_server = [h for h in hosts if h.role == "server"][-1]

    def run(node: fleet.NodeOptions, progress, servers_done) -> list[HostResult]:
        ca = store.load_ca(ws)
        results = []
        for host in hosts:
            if fail == host.name and not node.rotate_leaves:
                progress(f"{host.name}: failed: unreachable")
                results.append(HostResult(host, "failed", error="unreachable"))
                continue
            cert = store.ensure_node_cert(
                ws,
                ca,
                name=host.name,
                kind=host.role,
                region="global",
                addresses=[host.private_ip],
                keep_previous=not node.rotate_leaves,
            ).cert
            signer = "new" if pki.signed_by(ca.cert, cert) else "old"
            progress(f"{host.name}: configured ({signer})")
            log.append(f"{host.name}:{signer}")
            changed = ["node.pem"] if node.rotate_leaves else ["ca.pem"]
            results.append(HostResult(host, "configured", changed=changed, reloaded=True))
            servers = [r for r in results if r.host.role == "server"]
            if servers_done is not None and host.role == "server" and host == last_server:
                servers_done(servers)  # as fleet does: as soon as every server is done
        return results

    return run


def test_two_passes_bundle_everywhere_first_and_stop_on_failure(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    hosts = [
        Host("lab-server-1", "server", "198.18.0.9"),
        Host("lab-client-1", "client", "198.18.0.10"),
    ]
    for h in hosts:
        _node(ws, h.name, h.private_ip, h.role)
    node = fleet.NodeOptions(render.ClusterFacts())
    log: list[str] = []
    lines: list[str] = []
    started: list[list[str]] = []  # what was configured when the leader wait was started
    # Not rotating: one pass, as before.
    done = ca_rotation.configure(
        ws, hosts, node, lines.append, _fake_configure(ws, hosts, None, log)
    )
    assert done.passes == 1 and log == ["lab-server-1:new", "lab-client-1:new"]
    store.ensure(ws, store.CertOptions(rotate_ca=True))
    # Pass 1 fails on the client: no new leaf anywhere, one line says why.
    log.clear()
    fn = _fake_configure(ws, hosts, "lab-client-1", log)
    done = ca_rotation.configure(
        ws, hosts, node, lines.append, fn, lambda r: started.append(list(log))
    )
    # The leader wait still starts, once pass 1 has stopped: no server is reloaded again.
    assert done.passes == 1 and log == ["lab-server-1:old"] and started == [log]
    assert done.stopped and "pass 2" in done.stopped and "did not start" in done.stopped
    message = failure_message(UpReport(done.results, stopped=done.stopped))
    assert "\n" not in message and "pass 2 (certificates of the new CA) did not start" in message
    assert store.previous_leaves(ws, [h.name for h in hosts]) == [
        "lab-server-1",
        "lab-client-1",
    ]
    # The re-run: pass 1 on every node, then pass 2; the servers-done callback once, after
    # pass 2's servers (started after pass 1, its calls met pass 2's reloads).
    log.clear()
    started.clear()
    lines.clear()
    fn = _fake_configure(ws, hosts, None, log)
    done = ca_rotation.configure(
        ws, hosts, node, lines.append, fn, lambda r: started.append(list(log))
    )
    assert done.passes == 2 and done.stopped is None
    assert started == [["lab-server-1:old", "lab-client-1:old", "lab-server-1:new"]]
    assert log == ["lab-server-1:old", "lab-client-1:old", "lab-server-1:new", "lab-client-1:new"]
    second = next(i for i, line in enumerate(lines) if line.startswith(ca_rotation.SECOND))
    assert all(line.startswith("[pass 1/2]") for line in lines[1:second])
    assert all(line.startswith("[pass 2/2]") for line in lines[second + 1 :])
    assert [(r.status, r.changed, r.reloaded) for r in done.results] == [
        ("configured", ["ca.pem", "node.pem"], True)
    ] * 2
    assert store.previous_leaves(ws, [h.name for h in hosts]) == []
    store.finish_rotation(ws, store.CertOptions())  # every leaf is the new CA's


def test_only_tls_files_changed_means_reload() -> None:
    tls = [configure.RemoteFile(f"{render.TLS_DIR}/node.pem", b"x", 0o644)]
    hcl = [configure.RemoteFile(f"{render.CONFIG_DIR}/nomad.hcl", b"x", 0o600)]
    assert configure.reload_only(tls, needs_install=False, active=True)
    assert not configure.reload_only(tls + hcl, needs_install=False, active=True)
    assert not configure.reload_only(tls, needs_install=True, active=True)
    assert not configure.reload_only(tls, needs_install=False, active=False)
    assert not configure.reload_only([], needs_install=False, active=True)
    script = configure.apply_script("", False, True, unit_changed=False, active=True, reload=True)
    assert "systemctl reload nomad" in script and "restart" not in script.replace(
        "restarted instead", ""
    )
    assert "systemctl restart nomad" in configure.apply_script("", True, True, active=True)


def test_expiry_lists_previous_ca_and_warns(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    store.ensure(ws, store.CertOptions(rotate_ca=True))
    found = expiry.collect(ws.certs_dir)
    assert {e.name for e in found if e.kind == "ca"} == {"CA", "previous CA"}
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=80)  # the old CA has 20 days left then
    warned = expiry.warnings(found, now=soon)
    assert any(w.startswith("ca certificate of previous CA expires in 19 days") for w in warned)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOMADCTL_HOME": str(home)}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args], capture_output=True, text=True, env=env
    )


def test_region_is_a_deprecated_alias_of_nomad_region(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "certs", "--region", "eu", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (
        "note: --region is deprecated, use --nomad-region (the Nomad region)"
    )
    assert "cli.eu.nomad" in {n for r in json.loads(proc.stdout) for n in r["names"]}
    proc = _cli(tmp_path, "certs", "--nomad-region", "eu", "--json")
    assert proc.returncode == 0 and proc.stderr == ""
    proc = _cli(tmp_path, "certs", "--region", "eu", "--nomad-region", "us")
    assert proc.returncode == 2 and "old name of --nomad-region" in proc.stderr
    proc = _cli(tmp_path, "certs", "--finish")
    assert proc.returncode == 2 and "--rotate-ca --finish" in proc.stderr


# ---- testbed: renew and rotate on a running cluster, agents reloaded, none restarted -----------


@pytest.fixture(scope="module")
def cluster(testbed_factory_module, tmp_path_factory) -> Cluster:
    tb = testbed_factory_module(2)
    tmp = tmp_path_factory.mktemp("day2certs")
    c = Cluster(tb, tmp / "home", make_binary(tmp / "nomad"))
    c.servers, c.clients = tb.hosts[:1], tb.hosts[1:]
    proc = c.up()
    assert proc.returncode == 0, proc.stderr
    return c


def _ws_of(cluster: Cluster) -> Workspace:
    return Workspace(cluster.home, "tb")


def _names_by_address(cluster: Cluster) -> dict[str, tuple[str, str]]:
    state = json.loads((cluster.home / "tb" / "state.json").read_text())
    return {h["private_ip"]: (h["name"], h["role"]) for h in state["hosts"]}


def _serving(cluster: Cluster, ca_file: Path) -> None:
    """Every node serves (HTTPS, verified against `ca_file`) its workspace certificate."""
    ws = _ws_of(cluster)
    cli = store.leaf_paths(ws, "cli")
    for address, (name, role) in _names_by_address(cluster).items():
        want = pki.load_cert(store.node_paths(ws, name).cert).serial_number
        tls_probe.wait_serving(
            want,
            30,
            host=address,
            port=4646,
            ca_file=str(ca_file),
            client_cert=(str(cli.cert), str(cli.key)),
            server_name=f"{role}.global.nomad",
        )


def _up_reloads(cluster: Cluster, pids: list[int | None]) -> subprocess.CompletedProcess[str]:
    proc = cluster.up()
    assert proc.returncode == 0, proc.stderr
    hosts = json.loads(proc.stdout)["hosts"]
    assert [(h["restarted"], h["reloaded"]) for h in hosts] == [(False, True)] * len(hosts)
    for h in hosts:
        assert set(h["changed"]) <= configure.TLS_FILES and h["changed"]
    assert cluster.agent_pids() == pids
    return proc


def _status_ok(cluster: Cluster) -> dict:
    proc = cluster.run("status", "--json", "--wait", "20")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.testbed
def test_renew_then_up_reloads_every_agent(cluster: Cluster) -> None:
    ws = _ws_of(cluster)
    pids = cluster.agent_pids()
    assert None not in pids
    names = _names_by_address(cluster)
    before = {n: pki.load_cert(store.node_paths(ws, n).cert) for n, _ in names.values()}
    proc = cluster.run("certs", "--renew", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in json.loads(proc.stdout)} == {"renewed"}
    for name, old in before.items():
        new = pki.load_cert(store.node_paths(ws, name).cert)
        assert new.serial_number != old.serial_number and _names(new) == _names(old)
    _up_reloads(cluster, pids)
    _serving(cluster, store.ca_paths(ws).cert)
    _status_ok(cluster)


def _two_passes_seen(
    cluster: Cluster, proc: subprocess.CompletedProcess[str], watch: tls_watch.TlsWatch, logged
) -> None:
    """Step 1's `up` ran pass 1 on every node before pass 2 began, by its own account and as
    the agents served it; no agent refused a peer meanwhile."""
    names = [name for name, _ in _names_by_address(cluster).values()]
    err = proc.stderr
    second = err.index(ca_rotation.SECOND)
    for name in names:
        assert err.index(f"[pass 1/2] {name}: configured") < second, err
        assert err.index(f"[pass 2/2] {name}: configured") > second, err
    hosts = json.loads(proc.stdout)["hosts"]
    assert {frozenset(h["changed"]) for h in hosts} == {configure.TLS_FILES}
    step = next(s for s in json.loads(proc.stdout)["steps"] if s["name"] == "configure")
    assert "in 2 passes" in step["outcome"]
    # What the agents served: before, all old and none trusting the new CA; never a new-CA
    # leaf while some agent did not trust the new CA yet; a moment between the passes; after,
    # all new.
    assert len(watch.rounds) > 10
    assert watch.rounds[0] == [("old", False)] * len(names), watch.rounds[0]
    assert watch.premature() == [], watch.premature()[:3]
    assert watch.between_passes(), watch.rounds
    assert watch.rounds[-1] == [("new", True)] * len(names), watch.rounds[-1]
    # The stand-in's RPC listener verifies its callers against ca_file and its RPC dials verify
    # the server against ca_file, as Nomad's do (helper/tlsutil/config.go: IncomingTLSConfig
    # sets ClientAuth RequireAndVerifyClientCert with ClientCAs from the CA file,
    # OutgoingTLSConfig RootCAs from it; tests/standin/agent/transport.py). It logs a refused
    # handshake (transport.Listener.finish_request); only our own probes may be refused.
    for host, start in zip(cluster.tb.hosts, logged, strict=True):
        log = cluster.tb.unit_log(host)[start:]
        assert tls_watch.peer_refusals(log) == [], log
        assert "error heartbeating" not in log, log


@pytest.mark.testbed
def test_rotate_ca_in_two_steps_without_restart(cluster: Cluster) -> None:
    ws = _ws_of(cluster)
    pids = cluster.agent_pids()
    old_ca = pki.load_cert(store.ca_paths(ws).cert)
    proc = cluster.run("certs", "--rotate-ca")
    assert proc.returncode == 0, proc.stderr
    new_ca = pki.load_cert(store.ca_paths(ws).cert)
    _status_ok(cluster)  # between the steps the CLI trusts both CAs and keeps its old cert
    early = cluster.run("certs", "--rotate-ca", "--finish")
    assert early.returncode != 0 and "run `nomadctl up`" in early.stderr
    assert len(early.stderr.strip().splitlines()) == 1
    # Step 1, in two passes: the bundle everywhere (old leaves kept), then the new leaves;
    # each node then serves a leaf of the new CA alone. Watched over TLS from outside.
    new_only = ws.path / "new-ca.pem"
    new_only.write_bytes(pki.cert_pem(new_ca))
    agents = [(address, 4646) for address in _names_by_address(cluster)]
    cli = store.leaf_paths(ws, "cli")
    probe = tls_watch.probe_pair(store.load_ca(ws), ws.path)
    logged = [len(cluster.tb.unit_log(h)) for h in cluster.tb.hosts]
    with tls_watch.TlsWatch(agents, old_ca, new_ca, (cli.cert, cli.key), probe) as watch:
        proc = _up_reloads(cluster, pids)
        _serving(cluster, new_only)
    _two_passes_seen(cluster, proc, watch, logged)
    host = cluster.tb.hosts[0]
    pushed = x509.load_pem_x509_certificates(cluster.tb.read_file(host, render.TLS_DIR + "/ca.pem"))
    assert [c.serial_number for c in pushed] == [new_ca.serial_number, old_ca.serial_number]
    _status_ok(cluster)
    # Step 2: the cli certificate of the new CA, then the new CA alone on every node.
    proc = cluster.run("certs", "--rotate-ca", "--finish")
    assert proc.returncode == 0, proc.stderr
    _status_ok(cluster)
    _up_reloads(cluster, pids)
    for h in cluster.tb.hosts:
        assert cluster.tb.read_file(h, render.TLS_DIR + "/ca.pem") == pki.cert_pem(new_ca)
    data = _status_ok(cluster)
    assert [e["name"] for e in data["certificates"] if e["kind"] == "ca"] == ["CA"]


@pytest.mark.testbed
def test_status_shows_expiry_and_warns_within_30_days(cluster: Cluster) -> None:
    proc = cluster.run("certs", "--renew", "--days", "20")
    assert proc.returncode == 0, proc.stderr
    data = _status_ok(cluster)  # the agents still serve their 1-year leaves: they answer
    kinds = sorted(e["kind"] for e in data["certificates"])
    assert kinds == ["ca", "cli", "node", "node"]
    soon = {e["name"] for e in data["certificates"] if e["days_left"] < 30}
    assert soon == {"cli", *(n for n, _ in _names_by_address(cluster).values())}
    assert len(data["certificate_warnings"]) == 3
    table = cluster.run("status")
    assert table.returncode == 0, table.stderr
    assert "Days left" in table.stdout
    warned = [line for line in table.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 3 and all("nomadctl certs --renew" in w for w in warned)
