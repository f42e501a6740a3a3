"""The local provider: a secured cluster as processes on this machine, run with the stand-in.

One cluster for the whole module (3 servers + 3 clients on their own loopback addresses),
taken through up, status, env with python-nomad, re-runs, a killed agent and destroy; a
second, small cluster in port mode beside it shows that two clusters do not clash.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nomadctl.cluster import status
from nomadctl.cluster.target import env_lines
from nomadctl.errors import UsageError
from nomadctl.hosts import Host
from nomadctl.node import confirm as tls_confirm
from nomadctl.node import fleet, render
from nomadctl.node.configure import HostResult
from nomadctl.pki import issue, store
from nomadctl.plan import ca_rotation
from nomadctl.plan.finish import finish
from nomadctl.plan.report import UpReport
from nomadctl.providers.local import proc as local_proc
from nomadctl.providers.local.files import log_path
from nomadctl.providers.local.provider import LocalOptions, LocalProvider, sample_jobs
from nomadctl.workspace import Workspace
from tests import tls_watch
from tests.providers.aws.test_lifecycle import ROOT, exported_env, job_json, py_nomad
from tests.standin import make_binary
from tests.standin.harness import wait_for

SHELL_TOKEN = "0b6c1a4e-secret-from-the-shell"


@dataclass
class Cluster:
    ws: Workspace
    provider: LocalProvider
    binary: Path
    hosts: list[Host]
    first: list[HostResult]

    def pids(self) -> dict[str, int | None]:
        return {
            h.name: local_proc.running_pid(local_proc.NodeDir(self.ws.path / "local" / h.name))
            for h in self.hosts
        }


def configure(
    ws: Workspace,
    provider: LocalProvider,
    datacenter: str = "dc1",
    say: Callable[[str], None] = lambda _m: None,
    confirm_timeout: float = 30,
) -> tuple[list[Host], ca_rotation.Passes]:
    """What `nomadctl up --local` runs up to the leader: plan, apply, certificates, configure
    (in two passes during a CA rotation, as plan/up.py does, checked over TLS)."""
    plan = provider.plan(ws, say)
    applied = provider.apply(ws, plan, say)
    store.ensure(ws, store.CertOptions())
    facts = render.ClusterFacts(
        gossip_key=store.read_gossip_key(ws),
        datacenter=datacenter,
        servers=[h for h in applied.hosts if h.role == "server"],
    )
    agents = provider.agents(ws)
    done = ca_rotation.configure(
        ws,
        applied.hosts,
        fleet.NodeOptions(facts),
        say,
        lambda node, p, servers_done: agents.configure(ws, applied.hosts, node, p, servers_done),
        confirm=tls_confirm.Confirmer(ws, timeout=confirm_timeout),
    )
    return applied.hosts, done


def up(
    ws: Workspace,
    provider: LocalProvider,
    datacenter: str = "dc1",
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Host], list[HostResult]]:
    """`configure`, then finish: a leader and ACLs. `progress` sees every line too."""
    messages: list[str] = []

    def say(message: str) -> None:
        messages.append(message)
        if progress is not None:
            progress(message)

    hosts, done = configure(ws, provider, datacenter, say)
    results = done.results
    assert [r.error for r in results] == [None] * len(results), messages
    report = finish(
        ws,
        UpReport(results),
        bootstrap_acl=True,
        leader_timeout=30,
        progress=say,
    )
    assert report.leader and report.acl in ("bootstrapped", "already"), messages
    return hosts, results


def settled(ws: Workspace, nodes: int) -> status.StatusReport:
    """Status once it is healthy with `nodes` client nodes registered (they join after
    their agent starts listening); on a timeout, what was wrong the last time."""
    seen: list[str] = []

    def ready() -> status.StatusReport | None:
        report = status.collect(ws, wait=30)
        states = [n["Status"] for n in report.nodes]
        seen[:] = [f"problems {report.problems}, nodes {states}"]
        return report if report.healthy and states == ["ready"] * nodes else None

    return wait_for(
        ready, timeout=30, what=f"healthy with {nodes} ready nodes", on_fail=lambda: seen[0]
    )


def agent_pids(ws: Workspace) -> list[int]:
    """Every process on this machine whose command line names the workspace's agent dirs."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(ws.path / "local").encode() in cmd:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("local")
    binary = make_binary(tmp / "nomad", version="1.11.1")
    ws = Workspace(tmp / "home", "loc")
    provider = LocalProvider(LocalOptions(nomad_binary=binary))
    try:
        with pytest.MonkeyPatch.context() as mp:  # left in the shell: not for the agents
            mp.setenv("NOMAD_TOKEN", SHELL_TOKEN)
            hosts, results = up(ws, provider)
        yield Cluster(ws, provider, binary, hosts, results)
    finally:
        provider.destroy(ws, lambda _m: None)


def test_up_makes_a_secured_cluster_of_detached_agents(cluster: Cluster) -> None:
    ws = cluster.ws
    assert [r.status for r in cluster.first] == ["configured"] * 6
    assert [h.role for h in cluster.hosts] == ["server"] * 3 + ["client"] * 3
    addresses = {(h.private_ip, h.http_port) for h in cluster.hosts}
    assert len({ip for ip, _ in addresses}) == 6, "own loopback address per agent"
    assert {port for _, port in addresses} == {4646}
    state = ws.load_state()
    assert state["provider"] == "local"
    assert [Host.from_dict(h) for h in state["hosts"]] == cluster.hosts
    for name, pid in cluster.pids().items():
        assert pid is not None
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid, "own session and group"
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        assert SHELL_TOKEN.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
        node = ws.path / "local" / name
        assert os.readlink(f"/proc/{pid}/fd/1") == str(node / "nomad.log")
        for path in (node, node / "config", node / "tls", node / "data"):
            assert path.stat().st_mode & 0o777 == 0o700, path
        for path in ("config/nomad.hcl", "tls/node-key.pem", "nomad.pid", "nomad.log"):
            assert (node / path).stat().st_mode & 0o777 == 0o600, path
        hcl = (node / "config" / "nomad.hcl").read_text()
        assert "verify_https_client    = true" in hcl and "rpc                    = true" in hcl
        assert f'data_dir   = "{node / "data"}"' in hcl
    server_hcl = (ws.path / "local" / "loc-server-1" / "config" / "nomad.hcl").read_text()
    assert f'encrypt          = "{store.read_gossip_key(ws)}"' in server_hcl
    assert "Loaded configuration from" in log_path(ws, "loc-server-1").read_text()
    assert log_path(ws, "loc-server-9") == ws.path / "local" / "loc-server-9" / "nomad.log"
    with pytest.raises(UsageError):
        log_path(ws, "../x")


def test_status_sees_three_servers_one_leader_three_nodes(cluster: Cluster) -> None:
    report = settled(cluster.ws, 3)
    members = report.members
    assert sorted(m["Tags"]["Leader"] for m in members) == ["false", "false", "true"]
    assert len({n["ID"] for n in report.nodes}) == 3


def test_env_drives_python_nomad(cluster: Cluster) -> None:
    env = exported_env("\n".join(env_lines(cluster.ws, "bash")))
    assert env["NOMAD_ADDR"] == f"https://{cluster.hosts[0].private_ip}:4646"
    jobs = [job_json(p) for p in sorted((ROOT / "examples" / "jobs").glob("*.nomad.hcl"))][:2]
    result = py_nomad(env, jobs, timeout=60)
    assert result["members"] == 3
    assert result["registered"] == sorted(j["ID"] for j in jobs)


def test_rerun_restarts_nothing(cluster: Cluster) -> None:
    before = cluster.pids()
    plan = cluster.provider.plan(cluster.ws, lambda _m: None)
    assert [h.action for h in plan.hosts] == ["keep"] * 6 and not plan.changed
    hosts, results = up(cluster.ws, cluster.provider)
    assert hosts == cluster.hosts
    assert [(r.status, r.restarted, r.changed) for r in results] == [("unchanged", False, [])] * 6
    assert cluster.pids() == before


def test_killed_agent_is_started_again(cluster: Cluster) -> None:
    before = cluster.pids()
    victim = "loc-client-2"
    os.killpg(before[victim], signal.SIGKILL)
    wait_for(lambda: cluster.pids()[victim] is None, timeout=10, what="agent gone")
    plan = cluster.provider.plan(cluster.ws, lambda _m: None)
    assert plan.changed and [h.name for h in plan.hosts if "not running" in h.detail] == [victim]
    _, results = up(cluster.ws, cluster.provider)
    by_name = {r.host.name: r for r in results}
    assert (by_name[victim].status, by_name[victim].restarted) == ("configured", False)
    assert all(r.status == "unchanged" for n, r in by_name.items() if n != victim)
    after = cluster.pids()
    assert after[victim] not in (None, before[victim])
    assert {n: p for n, p in after.items() if n != victim} == {
        n: p for n, p in before.items() if n != victim
    }
    assert len({n["ID"] for n in settled(cluster.ws, 3).nodes}) == 3


def test_new_tls_files_reload_without_restart(cluster: Cluster) -> None:
    """A re-issued node certificate is picked up with SIGHUP; the agent keeps its pid."""
    before = cluster.pids()
    store.node_paths(cluster.ws, "loc-server-2").cert.unlink()
    _, results = up(cluster.ws, cluster.provider)
    by_name = {r.host.name: r for r in results}
    changed = by_name["loc-server-2"]
    assert (changed.status, changed.restarted) == ("configured", False)
    assert [Path(p).name for p in changed.changed] == ["node.pem", "node-key.pem"]
    assert cluster.pids() == before
    log = log_path(cluster.ws, "loc-server-2")
    wait_for(lambda: "Caught signal: hangup" in log.read_text(), timeout=10, what="SIGHUP")
    assert status.collect(cluster.ws, wait=30).healthy


def test_ca_rotation_in_two_passes_reloads_every_agent(cluster: Cluster, tmp_path: Path) -> None:
    """Local agents trust what the SSH nodes trust: step 1 of a CA rotation gives all six the
    bundle before any gets a leaf of the new CA (watched over TLS), with SIGHUP only."""
    ws, names = cluster.ws, [h.name for h in cluster.hosts]
    before = cluster.pids()
    old_ca = store.load_ca(ws).cert
    store.ensure(ws, store.CertOptions(rotate_ca=True))
    new_ca = store.load_ca(ws)
    cli = store.leaf_paths(ws, "cli")
    probe = tls_watch.probe_pair(new_ca, tmp_path)
    agents = [(h.private_ip, h.http_port) for h in cluster.hosts]
    logged = {n: len(log_path(ws, n).read_text()) for n in names}
    lines: list[str] = []
    all_new = [("new", True)] * len(agents)
    between = [("old", True)] * len(agents)
    with tls_watch.TlsWatch(agents, old_ca, new_ca.cert, (cli.cert, cli.key), probe) as watch:

        def progress(message: str) -> None:
            lines.append(message)
            if message.startswith(ca_rotation.SECOND):  # pass 2 waits for this: all trust new
                wait_for(lambda: watch.snapshot() == between, timeout=10, what="pass 1 done")

        _, results = up(ws, cluster.provider, progress=progress)
        wait_for(lambda: watch.rounds[-1] == all_new, timeout=10, what="new leaves served")
    assert cluster.pids() == before
    tls = {"ca.pem", "node.pem", "node-key.pem"}
    assert [(r.status, r.restarted, {Path(p).name for p in r.changed}) for r in results] == [
        ("configured", False, tls)
    ] * len(names)
    second = lines.index(next(m for m in lines if m.startswith(ca_rotation.SECOND)))
    for name in names:
        reloaded = f"{name}: new TLS files, agent reloaded"
        assert any(m.startswith(f"[pass 1/2] {reloaded}") for m in lines[:second]), lines
        assert any(m.startswith(f"[pass 2/2] {reloaded}") for m in lines[second:]), lines
    assert watch.rounds[0] == [("old", False)] * len(agents), watch.rounds[0]
    assert watch.premature() == [], watch.premature()[:3]
    for name in names:  # two reloads each, and no agent refused a peer (see test_day2_certs)
        log = log_path(ws, name).read_text()[logged[name] :]
        assert log.count("reloading HTTP server with new TLS configuration") == 2, log
        assert tls_watch.peer_refusals(log) == [], log
    settled(ws, 3)
    # Step 2: the new CA alone, in one pass.
    store.finish_rotation(ws, store.CertOptions())
    _, results = up(ws, cluster.provider)
    assert [Path(p).name for r in results for p in r.changed] == ["ca.pem"] * len(names)
    for name in names:
        ca_file = ws.path / "local" / name / "tls" / "ca.pem"
        assert ca_file.read_bytes() == issue.cert_pem(new_ca.cert)
    assert cluster.pids() == before
    settled(ws, 3)


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The agent frozen (SIGSTOP): its port still completes TCP, it answers nothing and
    handles no signal (a SIGHUP stays pending) until SIGCONT, which this always sends."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_rotation_pass_two_waits_for_every_server_to_trust_the_new_ca(cluster: Cluster) -> None:
    """A server that has not taken its SIGHUP (frozen here) does not show over TLS that it
    trusts the new CA: the run fails on it in one line, pass 2 never starts, no node gets a
    leaf of the new CA. Once it takes the pending SIGHUP, the re-run carries on."""
    ws, names, victim = cluster.ws, [h.name for h in cluster.hosts], "loc-server-2"
    before = cluster.pids()
    store.ensure(ws, store.CertOptions(rotate_ca=True))
    lines: list[str] = []
    with stopped(before[victim] or 0):
        _, done = configure(ws, cluster.provider, say=lines.append, confirm_timeout=3)
    failed = {r.host.name: r.error for r in done.results if r.status == "failed"}
    assert list(failed) == [victim], lines
    assert "to trust the new CA: not done after 3s" in (failed[victim] or ""), failed
    assert done.passes == 1 and done.stopped and "did not start" in done.stopped
    assert not any(m.startswith(ca_rotation.SECOND) for m in lines), lines
    assert store.previous_leaves(ws, names) == names  # every node keeps its old leaf
    up(ws, cluster.provider)  # pass 1 changes nothing now; pass 2 runs
    assert store.previous_leaves(ws, names) == []
    assert cluster.pids() == before
    store.finish_rotation(ws, store.CertOptions())
    up(ws, cluster.provider)
    settled(ws, 3)


def test_a_server_not_showing_its_new_certificate_fails_until_it_does(cluster: Cluster) -> None:
    """After a renewal, each server must show its new certificate over TLS; a frozen one is a
    failed node, and the re-run, with nothing left to upload, checks it again."""
    ws, victim = cluster.ws, "loc-server-1"
    before = cluster.pids()
    store.node_paths(ws, victim).cert.unlink()  # re-issued by the next up
    with stopped(before[victim] or 0):
        _, done = configure(ws, cluster.provider, confirm_timeout=3)
    failed = {r.host.name: r.error for r in done.results if r.status == "failed"}
    assert list(failed) == [victim]
    assert "to serve the new certificate: not done after 3s" in (failed[victim] or ""), failed
    _, results = up(ws, cluster.provider)
    assert [r.status for r in results] == ["unchanged"] * len(results)
    assert cluster.pids() == before
    settled(ws, 3)


def test_second_cluster_on_own_ports_does_not_clash(cluster: Cluster, tmp_path: Path) -> None:
    ws = Workspace(cluster.ws.home, "other")
    provider = LocalProvider(
        LocalOptions(servers=1, clients=1, nomad_binary=cluster.binary, loopback=False)
    )
    try:
        hosts, results = up(ws, provider)
        assert [r.status for r in results] == ["configured"] * 2
        assert {h.private_ip for h in hosts} == {"127.0.0.1"}
        ports = {h.http_port for h in hosts}
        assert len(ports) == 2 and 4646 not in ports
        settled(ws, 1)
        settled(cluster.ws, 3)
        # A changed config restarts its agents (new pids), and they come back healthy.
        before = {
            h.name: local_proc.running_pid(local_proc.NodeDir(ws.path / "local" / h.name))
            for h in hosts
        }
        _, again = up(ws, provider, datacenter="dc2")
        assert [(r.status, r.restarted) for r in again] == [("configured", True)] * 2
        for h in hosts:
            pid = local_proc.running_pid(local_proc.NodeDir(ws.path / "local" / h.name))
            assert pid not in (None, before[h.name])
        wait_for(
            lambda: [n["Datacenter"] for n in settled(ws, 1).nodes] == ["dc2"],
            what="the client back in dc2",
        )
        # One more client: it gets the next free ports; the others are left alone.
        provider = LocalProvider(
            LocalOptions(servers=1, clients=2, nomad_binary=cluster.binary, loopback=False)
        )
        grown, results = up(ws, provider, datacenter="dc2")
        assert [r.status for r in results] == ["unchanged", "unchanged", "configured"]
        # next to the cluster's own ports (the first free triple after them: in a parallel run
        # another worker's agents may hold the very next one), not a new block
        # (how many triples on depends on the other workers; seen 20 in CI): on the triple
        # grid that starts right after the cluster's last port, not a new block of its own
        step = grown[2].http_port - max(ports)
        assert grown[:2] == hosts and step > 0 and step % 3 == 0, (ports, grown[2])
        settled(ws, 2)
    finally:
        gone = provider.destroy(ws, lambda _m: None)
    assert [(r.name, r.status) for r in gone.resources] == [
        ("other-client-1", "deleted"),
        ("other-client-2", "deleted"),
        ("other-server-1", "deleted"),
    ]
    assert agent_pids(ws) == []


def test_even_servers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="odd number"):
        LocalProvider(LocalOptions(servers=2)).plan(Workspace(tmp_path, "x"), print)
    assert not (tmp_path / "x").exists()


def test_sample_jobs_follow_the_drivers() -> None:
    assert sample_jobs(["exec"]) == ["exec.nomad.hcl"]
    assert "exec.nomad.hcl" not in sample_jobs(["docker"]) and sample_jobs(["docker"])
    assert sample_jobs([]) == []


def test_destroy_stops_every_agent_and_removes_its_data(cluster: Cluster) -> None:
    """Last in the module: the cluster is gone afterwards."""
    ws = cluster.ws
    pids = [p for p in cluster.pids().values() if p]
    assert len(pids) == 6 and sorted(agent_pids(ws)) == sorted(pids)
    # A task process that left the agent's process group (as an executor may) still goes.
    stray = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(120)",
            str(ws.path / "local" / "loc-client-1" / "data" / "alloc"),
        ],
        start_new_session=True,
    )
    dry = cluster.provider.destroy(ws, lambda _m: None, dry_run=True)
    assert [r.status for r in dry.resources] == ["delete"] * 6 and agent_pids(ws)
    gone = cluster.provider.destroy(ws, lambda _m: None)
    assert sorted(r.name for r in gone.resources) == sorted(h.name for h in cluster.hosts)
    assert {r.status for r in gone.resources} == {"deleted"} and not gone.errors
    assert agent_pids(ws) == []
    assert not any(Path(f"/proc/{p}").exists() for p in pids)
    assert not Path(f"/proc/{stray.pid}").exists()  # killed, and reaped by destroy's wait
    stray.wait(timeout=5)
    assert not (ws.path / "local").exists()
    again = cluster.provider.destroy(ws, lambda _m: None, dry_run=True)
    assert again.resources == [], "a second down finds nothing"


def test_local_layout_in_the_agent_config() -> None:
    """Port mode: the agent binds only its address, listens on its ports and names every
    peer with its port; without a layout the config is the hosts' one, unchanged."""
    servers = [Host("c-server-1", "server", "127.0.0.1", http_port=21000)]
    client = Host("c-client-1", "client", "127.0.0.1", http_port=21003)
    facts = render.ClusterFacts(gossip_key="k" * 24, servers=servers)
    layout = render.LocalLayout(
        data_dir="/w/c-client-1/data",
        tls_dir="/w/c-client-1/tls",
        ports=render.Ports(21003, 21004, 21005),
        peers={"c-server-1": render.Ports(21000, 21001, 21002)},
    )
    hcl = render.agent_config(facts, client, layout)
    assert 'bind_addr  = "127.0.0.1"' in hcl and 'data_dir   = "/w/c-client-1/data"' in hcl
    assert "ports {\n  http = 21003\n  rpc  = 21004\n  serf = 21005\n}" in hcl
    assert 'servers   = ["127.0.0.1:21001"]' in hcl
    assert 'ca_file                = "/w/c-client-1/tls/ca.pem"' in hcl
    server_hcl = render.agent_config(facts, servers[0], layout)
    assert 'retry_join = ["127.0.0.1:21002"]' in server_hcl
    plain = render.agent_config(facts, client)
    assert 'bind_addr  = "0.0.0.0"' in plain and "ports {" not in plain
    assert 'servers   = ["127.0.0.1"]' in plain and render.TLS_DIR in plain
    with pytest.raises(ValueError, match="not a TCP port"):
        render.Ports(0, 1, 2)
