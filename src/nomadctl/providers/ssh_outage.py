"""Outage recovery on servers reached over SSH (AWS, hosts you already have):
`providers.outage.Outage` as shell on each node, one SSH session per step and host.

A server survives when it answers SSH and its data directory (`render.DATA_DIR`) still holds
its raft ID. It is stopped with `systemctl stop nomad` (the unit's KillSignal is SIGINT: no
leave, so it stays in raft), gets peers.json (0600, written to a temporary file and renamed)
in `<data_dir>/server/raft/`, and is started with `systemctl start nomad`; raft reaches it on
its advertised private address, port 4647 (render.agent_config).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from nomadctl.errors import RemoteError
from nomadctl.hosts import Host, SshOptions, ssh_options_from_state
from nomadctl.node import render
from nomadctl.node.connect import session_for
from nomadctl.providers.outage import NODE_ID, RAFT_DIR, Progress, ServerSeen, node_id
from nomadctl.workspace import Workspace

T = TypeVar("T")
RPC_PORT = 4647
PROBE = f"""cat {render.DATA_DIR}/{NODE_ID} 2>/dev/null | head -c 100; echo
if systemctl is-active --quiet nomad; then echo active; else echo inactive; fi
"""
STOP = "systemctl stop nomad\n"
START = "systemctl start nomad\n"
# peers.json belongs to whoever owns the data dir (a server's agent runs as `nomad`,
# node/privilege.py): the agent reads it, then deletes it (nomad/server.go setupRaft). Written
# by root in a directory the agent owns: a fresh mktemp file (O_EXCL), owner changed with -h
# and renamed over, so no link the agent left there is followed.
WRITE = f"""set -eu
d={render.DATA_DIR}/{RAFT_DIR}
owner=$(stat -c %u:%g {render.DATA_DIR})
umask 077
if [ ! -d "$d" ]; then
  mkdir -p "$d"
  chown -h "$owner" {render.DATA_DIR}/{RAFT_DIR.split("/")[0]} "$d"
fi
tmp=$(mktemp "$d/.peers.json.XXXXXX")
cat > "$tmp"
chown -h "$owner" "$tmp"
mv -f "$tmp" "$d/peers.json"
"""


@dataclass(frozen=True)
class SshOutage:
    ws: Workspace
    ssh: SshOptions | None = None  # None: the options state.json records

    def _ssh(self) -> SshOptions:
        return self.ssh or ssh_options_from_state(self.ws.load_state())

    def _each(self, hosts: Sequence[Host], fn: Callable[[Host, object], T]) -> list[T]:
        ssh = self._ssh()

        def one(host: Host) -> T:
            with session_for(self.ws, host, ssh) as session:
                session.connect(wait=ssh.connect_timeout)
                return fn(host, session)

        with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), ssh.parallel))) as pool:
            return list(pool.map(one, hosts))

    def probe(self, hosts: Sequence[Host], progress: Progress) -> list[ServerSeen]:
        def one(host: Host) -> ServerSeen:
            rpc = f"{host.private_ip}:{RPC_PORT}"
            try:
                with session_for(self.ws, host, self._ssh()) as session:
                    session.connect(wait=self._ssh().connect_timeout)
                    result = session.sudo(PROBE, timeout=60)
            except RemoteError as exc:
                return ServerSeen(host, None, rpc, False, f"does not answer SSH: {exc.message}")
            if result.code != 0:
                return ServerSeen(host, None, rpc, False, f"probe failed: {result.tail()}")
            lines = [*result.stdout.splitlines(), "", ""]
            found = node_id(lines[0])
            running = "active" in lines[1:3] and "inactive" not in lines[1:3]
            why = "" if found else f"its data is gone (no node-id in {render.DATA_DIR}/server)"
            return ServerSeen(host, found, rpc, running, why)

        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            seen = list(pool.map(one, hosts))
        for s in seen:
            progress(f"{s.host.name}: " + (f"raft ID {s.node_id}" if s.node_id else s.why))
        return seen

    def _run(self, servers: Sequence[ServerSeen], script: str, what: str, stdin: bytes | None,
             progress: Progress) -> None:  # fmt: skip
        def fn(host: Host, session: object) -> None:
            result = session.sudo(script, stdin=stdin, timeout=120)  # type: ignore[attr-defined]
            if result.code != 0:
                raise RemoteError(f"{host.name}: {what} failed: {result.tail()}")
            progress(f"{host.name}: {what}: done")

        self._each([s.host for s in servers], fn)

    def stop(self, servers: Sequence[ServerSeen], progress: Progress) -> None:
        self._run(servers, STOP, "stopping the agent", None, progress)

    def write_peers(self, servers: Sequence[ServerSeen], data: bytes, progress: Progress) -> None:
        self._run(servers, WRITE, "writing peers.json", data, progress)

    def start(self, servers: Sequence[ServerSeen], progress: Progress) -> None:
        self._run(servers, START, "starting the agent", None, progress)
