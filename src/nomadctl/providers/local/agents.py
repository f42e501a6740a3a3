"""Configure the local provider's agents: files, then start, roll, reload or leave alone.

All agents are set up first (files written, stopped processes started), then waited for
together, servers first, so the cluster comes up in the time of its slowest agent, not
their sum. A running agent whose config or binary changed is not restarted here: it is left
`pending` (a `restart-pending` file in its directory, written before its new config, so a
killed run is finished by the next) and rolled as hosts are (`node.roll.Roll`: servers one at
a time with quorum measured before each, clients drained at most `max_unavailable` at a
time), never all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nomadctl.cluster import quorum
from nomadctl.cluster.target import workspace_target
from nomadctl.errors import NomadctlError, RemoteError
from nomadctl.hosts import Host
from nomadctl.node import fleet, render
from nomadctl.node.configure import HostResult
from nomadctl.node.marks import Marks
from nomadctl.node.roll import Roll
from nomadctl.pki import store
from nomadctl.providers.base import Progress
from nomadctl.providers.local import net, proc
from nomadctl.providers.local.files import node_dir, node_tls, write_if_changed
from nomadctl.workspace import Workspace


@dataclass
class _Pending:
    host: Host
    node: proc.NodeDir
    result: HostResult
    pid: int | None = None
    wait: bool = False  # started: wait until it listens


def configure_all(
    ws: Workspace,
    hosts: Sequence[Host],
    node_opts: fleet.NodeOptions,
    progress: Progress,
    on_servers_done: Callable[[list[HostResult]], None] | None,
    start_timeout: float,
) -> list[HostResult]:
    facts: render.ClusterFacts = node_opts.facts
    store.ensure(ws, store.CertOptions(region=facts.nomad_region))
    state = ws.update_state(
        nomad={"region": facts.nomad_region, "datacenter": facts.datacenter},
        install={"method": "local"},
    )
    local = state.get("local") or {}
    binary = Path(local.get("binary") or node_opts.nomad_binary or "")
    if not str(binary) or not binary.is_file():
        raise NomadctlError(f"no Nomad binary recorded for the local cluster ({binary})")
    slots = {n: net.Slot.from_dict(d) for n, d in (local.get("nodes") or {}).items()}
    peers = {s.name: slots[s.name].ports for s in facts.servers if s.name in slots}
    ca = store.load_ca(ws)
    expect = fleet.bootstrap_expect(ws, len(facts.servers))
    pending, ready = [], []
    for host in hosts:  # files first, so the agents then start back to back
        node = node_dir(ws, host.name)
        layout = render.LocalLayout(
            data_dir=str(node.data),
            tls_dir=str(node.tls),
            ports=slots[host.name].ports if host.name in slots else render.Ports(),
            peers=peers,
        )
        try:
            tls = node_tls(ws, ca, host, facts.nomad_region, not node_opts.rotate_leaves)
            hcl = render.agent_config(facts, host, layout, join=False).encode()
            join = render.join_config(facts, host, expect, layout).encode()
            ready.append((host, node, hcl, join, tls))
        except (NomadctlError, OSError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            progress(f"{host.name}: failed: {message}")
            pending.append(_Pending(host, node, HostResult(host, "failed", error=message)))
    ready.sort(key=lambda r: r[0].role != "server")  # servers first: they elect the leader
    running = proc.running_pids([r[1] for r in ready])  # one look at all processes
    to_start: list[_Pending] = []
    for host, node, hcl, join, tls in ready:
        try:
            p = _setup(host, node, running.get(node.root), binary, hcl, join, tls, progress)
            (to_start if p.wait and p.pid is None else pending).append(p)
        except (NomadctlError, OSError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            progress(f"{host.name}: failed: {message}")
            pending.append(_Pending(host, node, HostResult(host, "failed", error=message)))
    # Every file written first; the servers start back to back, the clients once the servers
    # listen: six agents starting at once on a small machine held the election back.
    for p in to_start:
        if p.host.role == "server":
            _start(p, binary, progress)
        pending.append(p)
    order = {h.name: i for i, h in enumerate(hosts)}
    pending.sort(key=lambda p: order[p.host.name])
    roll = _roll(ws, pending, binary, node_opts, progress, start_timeout)
    servers = [p for p in pending if p.host.role == "server"]
    clients = [p for p in pending if p.host.role != "server"]
    for p in servers:
        _finish(p, start_timeout, progress)
    restarting = [p.result for p in servers if p.result.pending]
    if node_opts.before_server_restart is not None and restarting:
        node_opts.before_server_restart()  # a failed snapshot stops here: nothing restarted
    roll.servers(restarting)
    if on_servers_done is not None and servers:
        on_servers_done([p.result for p in servers])
    for p in clients:
        if p.wait and p.pid is None:
            _start(p, binary, progress)
    for p in clients:
        _finish(p, start_timeout, progress)
    roll.clients([p.result for p in clients if p.result.pending])
    roll.restore_marked()  # what a killed run left ineligible
    results = [p.result for p in pending]

    fleet.record_configured(ws, results)
    return results


def _roll(
    ws: Workspace,
    pending: Sequence[_Pending],
    binary: Path,
    node_opts: fleet.NodeOptions,
    progress: Progress,
    start_timeout: float,
) -> Roll:
    """The roll of this machine's agents: a restart is stop (SIGINT, no leave), start, and
    listening again; the roll's checks come before and after it."""
    by_name = {p.host.name: p for p in pending}

    def restart(result: HostResult) -> None:
        p = by_name[result.host.name]
        pid = proc.running_pid(p.node)
        if pid is not None and not proc.stop(pid):
            raise RemoteError(f"{p.host.name}: the agent (pid {pid}) did not stop")
        pid = proc.start(binary, p.node)
        why = proc.wait_listening(pid, p.host.private_ip, p.host.http_port, start_timeout)
        if why is not None:
            tail = proc.last_lines(p.node.log)
            raise RemoteError(
                f"{p.host.name}: {why} (see {p.node.log}){': ' + tail if tail else ''}"
            )
        proc.restart_done(p.node)
        result.pending, result.restarted = False, True
        progress(f"{p.host.name}: agent restarted (pid {pid})")

    return Roll(
        lambda: workspace_target(ws),
        node_opts.rollout,
        restart,
        progress,
        servers_of=lambda: quorum.workspace_servers(ws),
        marks=Marks(ws),
    )


def _setup(
    host: Host,
    node: proc.NodeDir,
    pid: int | None,
    binary: Path,
    hcl: bytes,
    join: bytes,
    tls: dict[str, bytes],
    progress: Progress,
) -> _Pending:
    """Write what changed; start (left to the caller: `wait` and no pid), restart or SIGHUP
    the agent (`pid`, its running process) as the change needs.

    join.hcl (bootstrap_expect, retry_join, client servers) is read only when an agent
    starts: a change to it alone (scale out) is written without restarting anyone."""
    node.make()
    if pid is not None and (
        proc.restart_pending(node)
        or _differs(node.config_file, hcl)
        or not proc.runs_binary(pid, binary)
    ):
        proc.mark_restart(node)  # write-ahead: the new config is for the next start
    changed = []
    if write_if_changed(node.config_file, hcl):
        changed.append(str(node.config_file))
    if write_if_changed(node.config / "join.hcl", join):
        changed.append(str(node.config / "join.hcl"))
    tls_changed = False
    for name, data in tls.items():
        if write_if_changed(node.tls / name, data):
            changed.append(str(node.tls / name))
            tls_changed = True
    result = HostResult(host, "configured", changed=changed)
    if pid is None:  # started by the caller once every node's files are written
        return _Pending(host, node, result, None, wait=True)
    if proc.restart_pending(node):
        result.pending = True
        progress(f"{host.name}: configuration changed, agent (pid {pid}) to restart in turn")
        return _Pending(host, node, result, pid)
    if tls_changed:
        proc.reload(pid)
        progress(f"{host.name}: new TLS files, agent reloaded (SIGHUP, pid {pid})")
        return _Pending(host, node, result, pid)
    if changed:  # join.hcl only: used at the next start
        progress(f"{host.name}: join settings written, agent (pid {pid}) keeps running")
        return _Pending(host, node, result, pid)
    result.status = "unchanged"
    progress(f"{host.name}: already running (pid {pid}), nothing to do")
    return _Pending(host, node, result, pid)


def _start(p: _Pending, binary: Path, progress: Progress) -> None:
    try:
        p.pid = proc.start(binary, p.node)
        proc.restart_done(p.node)
        progress(f"{p.host.name}: agent started (pid {p.pid})")
    except OSError as exc:
        p.wait, p.result.status, p.result.error = False, "failed", str(exc)
        progress(f"{p.host.name}: failed: {exc}")


def _differs(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() != data
    except OSError:
        return True


def _finish(p: _Pending, timeout: float, progress: Progress) -> None:
    if not p.wait or p.pid is None:
        return
    why = proc.wait_listening(p.pid, p.host.private_ip, p.host.http_port, timeout)
    if why is None:
        progress(f"{p.host.name}: listening on {p.host.private_ip}:{p.host.http_port}")
        return
    tail = proc.last_lines(p.node.log)
    p.result.status = "failed"
    p.result.error = f"{why} (see {p.node.log}){': ' + tail if tail else ''}"
    progress(f"{p.host.name}: failed: {p.result.error}")
