"""Outage recovery on agents that run on this machine (`providers.outage.Outage`).

A server survives when its data directory still holds its raft ID (`<node>/data/server/
node-id`); it is stopped with SIGINT as a restart is (no leave: a leave would take it out of
raft), gets peers.json in `<node>/data/server/raft/`, and is started again with the binary
the workspace records, as `up` starts it (`proc.start`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nomadctl.errors import NomadctlError
from nomadctl.hosts import Host
from nomadctl.providers.local import net, proc
from nomadctl.providers.local.files import node_dir
from nomadctl.providers.outage import NODE_ID, RAFT_DIR, Progress, ServerSeen, node_id
from nomadctl.workspace import SECRET_MODE, Workspace, atomic_write


@dataclass(frozen=True)
class LocalOutage:
    ws: Workspace
    stop_timeout: float = 10.0
    start_timeout: float = 60.0

    def _local(self) -> dict:
        return self.ws.load_state().get("local") or {}

    def probe(self, hosts: Sequence[Host], progress: Progress) -> list[ServerSeen]:
        slots = self._local().get("nodes") or {}
        seen = []
        for host in hosts:
            node = node_dir(self.ws, host.name)
            slot = net.Slot.from_dict(slots[host.name]) if host.name in slots else None
            rpc = f"{slot.ip}:{slot.ports.rpc}" if slot else f"{host.private_ip}:4647"
            running = proc.running_pid(node) is not None
            path = node.data / NODE_ID
            try:
                found = node_id(path.read_text())
                why = "" if found else f"{path} holds no node ID"
            except FileNotFoundError:
                found, why = None, f"its data is gone ({node.data / 'server'} has no node-id)"
            except OSError as exc:
                found, why = None, f"cannot read {path}: {exc.strerror}"
            seen.append(ServerSeen(host, found, rpc, running, why))
            progress(f"{host.name}: " + (f"raft ID {found}" if found else why))
        return seen

    def stop(self, servers: Sequence[ServerSeen], progress: Progress) -> None:
        pids = {s.host.name: proc.running_pid(node_dir(self.ws, s.host.name)) for s in servers}
        running = [p for p in pids.values() if p]
        left = proc.stop_all(running, self.stop_timeout, group=False, leave=False)
        if left:
            raise NomadctlError(f"agents (pids {left}) did not stop; nothing was written")
        for name, pid in pids.items():
            progress(f"{name}: agent stopped (pid {pid})" if pid else f"{name}: not running")

    def write_peers(self, servers: Sequence[ServerSeen], data: bytes, progress: Progress) -> None:
        for s in servers:
            path = node_dir(self.ws, s.host.name).data / RAFT_DIR / "peers.json"
            atomic_write(path, data, SECRET_MODE)
            progress(f"{s.host.name}: wrote {path}")

    def start(self, servers: Sequence[ServerSeen], progress: Progress) -> None:
        binary = Path(self._local().get("binary") or "")
        if not str(binary) or not binary.is_file():
            raise NomadctlError(f"no Nomad binary recorded for the local cluster ({binary})")
        started = []
        for s in servers:
            node = node_dir(self.ws, s.host.name)
            started.append((s, node, proc.start(binary, node)))
        for s, node, pid in started:
            ip, port = s.host.private_ip, s.host.http_port
            why = proc.wait_listening(pid, ip, port, self.start_timeout)
            if why is not None:
                tail = proc.last_lines(node.log)
                raise NomadctlError(
                    f"{s.host.name}: {why} (see {node.log}){': ' + tail if tail else ''}"
                )
            progress(f"{s.host.name}: agent started (pid {pid}), listening on {ip}:{port}")
