"""Configure every node of the cluster over SSH, in parallel, and report per host.

Reads the hosts a provider recorded, makes each node's certificate, renders its files and
hands them to `configure.configure_host` on one SSH connection per host. One failing host does
not stop the others; the caller gets a result for every host.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nomadctl import certstore, pki, render
from nomadctl.configure import HostResult, NodeTls, configure_host, node_files, read_local
from nomadctl.errors import NomadctlError
from nomadctl.hosts import Host
from nomadctl.remote import Endpoint, KnownHosts, Session
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SshOptions:
    user: str = "ubuntu"
    key_path: Path | None = None  # default: the workspace's own key
    address: Literal["private", "public"] = "public"
    bastion: str | None = None
    parallel: int = 32
    wait: float = 300.0  # how long to wait for SSH on freshly booted hosts
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class NodeOptions:
    facts: render.ClusterFacts
    nomad_binary: Path | None = None
    license_file: Path | None = None


def ssh_key_path(ws: Workspace, ssh: SshOptions) -> Path:
    return ssh.key_path or ws.path / "ssh" / "id_ed25519"


def known_hosts(ws: Workspace) -> KnownHosts:
    return KnownHosts(ws.path / "known_hosts", ws.write_public)


def ssh_address(host: Host, ssh: SshOptions) -> str:
    if ssh.address == "public" and host.public_ip:
        return host.public_ip
    return host.private_ip


def session_for(
    ws: Workspace, host: Host, ssh: SshOptions, cancel: threading.Event | None = None
) -> Session:
    bastion = Endpoint.parse(ssh.bastion, ssh.user) if ssh.bastion else None
    return Session(
        Endpoint(ssh_address(host, ssh), 22, ssh.user),
        ssh_key_path(ws, ssh),
        known_hosts(ws),
        bastion=bastion,
        connect_timeout=ssh.connect_timeout,
        cancel=cancel or threading.Event(),
    )


def configure_all(
    ws: Workspace,
    hosts: Sequence[Host],
    node: NodeOptions,
    ssh: SshOptions,
    progress: Progress,
    on_servers_done: Callable[[list[HostResult]], None] | None = None,
) -> list[HostResult]:
    """Configure `hosts` in parallel (at most `ssh.parallel` at once); never raises per host.

    `on_servers_done(results)` is called (from a worker thread) as soon as every server
    host has its result, while clients may still be in progress."""
    facts = node.facts
    ca = certstore.load_ca(ws)
    # The CA, or during a rotation the bundle of new and old CA (certstore.trust_file).
    ca_pem = certstore.trust_pem(ws)
    binary = read_local(node.nomad_binary, "Nomad binary") if node.nomad_binary else None
    license_text = read_local(node.license_file, "licence file") if node.license_file else None
    files = {}
    for host in hosts:  # certificates first, serially: cheap, and they share the CA key
        pair = certstore.ensure_node_cert(
            ws,
            ca,
            name=host.name,
            kind=host.role,
            region=facts.nomad_region,
            addresses=[host.private_ip, host.public_ip or ""],
        )
        tls = NodeTls(ca_pem, pki.cert_pem(pair.cert), pki.key_pem(pair.key))
        files[host.name] = node_files(facts, host, tls, binary, license_text)

    servers = sum(h.role == "server" for h in hosts)
    server_results: list[HostResult] = []
    lock = threading.Lock()

    def one(host: Host) -> HostResult:
        result = configure_one(host)
        if host.role == "server" and on_servers_done is not None:
            with lock:
                server_results.append(result)
                last = len(server_results) == servers
            if last:
                on_servers_done(list(server_results))
        return result

    def configure_one(host: Host) -> HostResult:
        try:
            with session_for(ws, host, ssh, cancel) as session:
                progress(f"{host.name}: connecting to {session.endpoint.address}")
                session.connect(wait=ssh.wait, progress=lambda m: progress(f"{host.name}: {m}"))
                result = configure_host(session, facts, host, files[host.name])
                result.counters = session.counters
        except NomadctlError as exc:
            progress(f"{host.name}: failed: {exc.message}")
            return HostResult(host, "failed", error=exc.message)
        if result.status == "unchanged":
            progress(f"{host.name}: already configured, nothing to do")
        else:
            what = f"{len(result.changed)} file(s) uploaded" if result.changed else "no upload"
            restart = ", agent restarted" if result.restarted else ", agent started"
            progress(f"{host.name}: configured ({what}{restart})")
        return result

    # Ctrl-C must not wait out other hosts' SSH retries: tell them to stop, then wait only
    # for commands already running on a node (each is bounded).
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, ssh.parallel))
    try:
        return list(pool.map(one, hosts))
    except BaseException:
        cancel.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
