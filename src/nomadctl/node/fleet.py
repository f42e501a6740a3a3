"""Configure every node of the cluster over SSH, in parallel, and report per host.

Reads the hosts a provider recorded, makes each node's certificate, renders its files and
hands them to `configure.configure_host` on one SSH connection per host. One failing host does
not stop the others; the caller gets a result for every host. Running agents that must
restart are then rolled (`roll.Roll`). `configure` also records in state.json what it
configured, so a re-run carries on where a failure stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nomadctl.cluster import acl, quorum
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import NomadctlError, RemoteError
from nomadctl.hosts import Host, SshOptions, record_ssh
from nomadctl.node import order, proof, render
from nomadctl.node.configure import (
    HostResult,
    NodeTls,
    configure_host,
    node_files,
    read_local,
    restart_host,
)
from nomadctl.node.connect import session_for
from nomadctl.node.marks import Marks
from nomadctl.node.order import RolloutOptions
from nomadctl.node.roll import Roll
from nomadctl.pki import issue, store
from nomadctl.workspace import Workspace

if TYPE_CHECKING:  # paramiko only where SSH is used: the local provider never imports it
    from nomadctl.node.ssh import Session

Progress = Callable[[str], None]


@dataclass(frozen=True)
class NodeOptions:
    facts: render.ClusterFacts
    nomad_binary: Path | None = None
    license_file: Path | None = None
    rollout: RolloutOptions = field(default_factory=RolloutOptions)  # running agents restart
    # During a CA rotation a node's leaf of the old CA is kept (its peers may trust only that)
    # unless this is pass 2, when every node has the bundle (`nomadctl.plan.ca_rotation`).
    rotate_leaves: bool = False
    # Called once before the first running server restarts (plan/snapshots.py saves a
    # snapshot there); raising stops the change before any server restarts.
    before_server_restart: Callable[[], None] | None = None


def configure(
    ws: Workspace,
    hosts: Sequence[Host],
    node: NodeOptions,
    ssh: SshOptions,
    progress: Progress,
    on_servers_done: Callable[[list[HostResult]], None] | None = None,
) -> list[HostResult]:
    store.ensure(ws, store.CertOptions(region=node.facts.nomad_region))
    record_ssh(ws, ssh)
    ws.update_state(
        nomad={"region": node.facts.nomad_region, "datacenter": node.facts.datacenter},
        install={"method": node.facts.install_method},
    )
    results = configure_all(ws, hosts, node, ssh, progress, on_servers_done)
    record_configured(ws, results)
    return results


def configure_all(
    ws: Workspace,
    hosts: Sequence[Host],
    node: NodeOptions,
    ssh: SshOptions,
    progress: Progress,
    on_servers_done: Callable[[list[HostResult]], None] | None = None,
) -> list[HostResult]:
    """Configure `hosts` in parallel (at most `ssh.parallel` at once); never raises per host.

    Every host's files are written and stopped agents started first; running agents that
    must restart are then rolled (`roll.Roll`: servers one at a time, then clients in
    batches). `on_servers_done(results)` is called as soon as every server is done (rolled
    included), while clients may still be in progress."""
    files = _all_files(ws, hosts, node)
    sessions: dict[str, Session] = {}
    cancel = threading.Event()

    def restart(result: HostResult) -> None:
        restart_host(sessions[result.host.name], result)

    roll = Roll(
        lambda: workspace_target(ws),
        node.rollout,
        restart,
        progress,
        cancel,
        servers_of=lambda: quorum.workspace_servers(ws),
        marks=Marks(ws),
    )
    prover = _prover(files)

    def one(host: Host) -> HostResult:
        session = session_for(ws, host, ssh, cancel)
        try:
            progress(f"{host.name}: connecting to {session.endpoint.address}")
            session.connect(wait=ssh.wait, progress=lambda m: progress(f"{host.name}: {m}"))
            result = configure_host(
                session,
                node.facts,
                host,
                files[host.name],
                defer_restart=True,
                prove=_prove_on(prover, session, host, progress),
            )
            result.counters = session.counters
        except NomadctlError as exc:
            session.close()
            progress(f"{host.name}: failed: {exc.message}")
            return HostResult(host, "failed", error=exc.message)
        if result.pending:
            sessions[host.name] = session  # kept for the roll's restart
        else:
            session.close()
        _report(progress, result)
        return result

    # Ctrl-C must not wait out other hosts' SSH retries: tell them to stop, then wait only
    # for commands already running on a node (each is bounded).
    pool = ThreadPoolExecutor(max_workers=max(1, ssh.parallel))
    try:
        futures = [pool.submit(one, host) for host in hosts]
        done = {h.name: f for h, f in zip(hosts, futures, strict=True)}
        servers = [done[h.name].result() for h in hosts if h.role == "server"]
        _stop_if_unproven(prover, done)
        if node.before_server_restart is not None and any(r.pending for r in servers):
            node.before_server_restart()
        roll.servers([r for r in servers if r.pending])
        if servers and on_servers_done is not None:
            on_servers_done(list(servers))
        clients = [done[h.name].result() for h in hosts if h.role != "server"]
        roll.clients([r for r in clients if r.pending])
        roll.restore_marked()  # what a killed run left ineligible
        return [f.result() for f in futures]
    except BaseException:
        cancel.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        for session in sessions.values():
            session.close()


def _prover(files: dict[str, list]) -> proof.Prover | None:
    """An uploaded binary (--nomad-binary) is proven on one host per architecture first."""
    for host_files in files.values():
        for f in host_files:
            if f.path == render.LOCAL_BINARY:
                return proof.Prover(f.content)
    return None


def _prove_on(
    prover: proof.Prover | None, session: Session, host: Host, progress: Progress
) -> Callable[[str], object] | None:
    if prover is None:
        return None

    def run(script: str, data: bytes) -> tuple[int, str]:
        done = session.sudo(script, stdin=data, timeout=60)
        return done.code, done.stdout

    def prove(machine: str) -> str:
        version = prover.check(host.name, machine, run)
        progress(f"{host.name}: the Nomad binary runs here (Nomad {version}, {machine})")
        return version

    return prove


def _stop_if_unproven(prover: proof.Prover | None, done: dict) -> None:
    """A binary that failed its trial stops the whole run before any agent restarts."""
    if prover is None or prover.failure is None:
        return
    for future in done.values():
        future.result()  # every host has stopped short of its upload or finished
    raise RemoteError(prover.failure)


def _report(progress: Progress, result: HostResult) -> None:
    name = result.host.name
    if result.status == "unchanged":
        progress(f"{name}: already configured, nothing to do")
        return
    what = f"{len(result.changed)} file(s) uploaded" if result.changed else "no upload"
    if result.pending:
        then = ", agent to restart in turn"
    elif result.reloaded:
        then = ", agent reloaded (SIGHUP: new TLS files, same process)"
    else:
        then = ", agent restarted" if result.restarted else ", agent running"
    progress(f"{name}: configured ({what}{then})")


def _all_files(ws: Workspace, hosts: Sequence[Host], node: NodeOptions) -> dict[str, list]:
    """Every host's files; certificates made serially (cheap, and they share the CA key)."""
    facts = node.facts
    ca = store.load_ca(ws)
    # The CA, or during a rotation the bundle of new and old CA (store.trust_file).
    ca_pem = store.trust_pem(ws)
    binary = read_local(node.nomad_binary, "Nomad binary") if node.nomad_binary else None
    license_text = read_local(node.license_file, "licence file") if node.license_file else None
    expect = bootstrap_expect(ws, len(facts.servers))
    files = {}
    for host in hosts:
        pair = store.ensure_node_cert(
            ws,
            ca,
            name=host.name,
            kind=host.role,
            region=facts.nomad_region,
            addresses=[host.private_ip, host.public_ip or ""],
            keep_previous=not node.rotate_leaves,
        )
        tls = NodeTls(ca_pem, issue.cert_pem(pair.cert), issue.key_pem(pair.key))
        files[host.name] = node_files(facts, host, tls, binary, license_text, expect)
    return files


def bootstrap_expect(ws: Workspace, servers: int) -> int:
    """The count recorded in state (`bootstrap_expect`), fixed once ACLs are bootstrapped
    (the cluster exists); before that it follows the configured server count."""
    state = ws.load_state()
    recorded = state.get("bootstrap_expect")
    bootstrapped = acl.token_path(ws, "management").exists()
    value = order.bootstrap_expect(recorded if bootstrapped else None, servers)
    if value != recorded and servers > 0:
        ws.update_state(bootstrap_expect=value)
    return value


def record_configured(ws: Workspace, results: Sequence[HostResult]) -> None:
    """Which hosts are configured, in state.json; hosts not in `results` keep theirs (one
    node configured alone, as a replacement is, forgets no other)."""
    configured = dict(ws.load_state().get("configured") or {})
    configured.update({r.host.name: r.status != "failed" for r in results})
    ws.update_state(configured=configured)
