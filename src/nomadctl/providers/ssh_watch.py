"""`up`'s look at server agents on hosts reached over SSH (AWS and hosts you already have),
while the cluster forms: an agent that died is reported at once, not after the leader timeout
(issue 29 point 8; the local provider looks at its pid files, `LocalAgents.watch`).

A look is `systemctl show` of the nomad unit on an SSH connection kept open per server for
the whole watch, one look per server every LOOK_EVERY seconds, in threads of their own: the
leader wait and the TLS checks that ask (`plan/finish.py`, `node/confirm.py`) only read what
the last looks found, so a slow or unreachable host never holds them up. An agent is dead
when its unit is `failed` or `inactive`, or the process exited and systemd is about to start
it again (`SubState=auto-restart`: our unit has `Restart=on-failure`), or systemd restarted
it since the first look (`NRestarts` grew; systemd counts only automatic restarts and starts
the count again at an explicit start, src/core/service.c). What it logged last comes from
the journal (`journalctl -u nomad`), as `nomadctl logs` reads it.

A host that does not answer over SSH is not called dead: the leader wait says what it sees.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nomadctl.errors import RemoteError
from nomadctl.hosts import Host, SshOptions
from nomadctl.node.connect import session_for
from nomadctl.workspace import Workspace

if TYPE_CHECKING:  # paramiko only where SSH is used
    from nomadctl.node.ssh import Session

LOOK_EVERY = 1.0  # seconds between two looks at one server's unit
CONNECT_WAIT = 5.0  # at most, for the watch's own connection to a server (it tries again)
COMMAND_TIMEOUT = 15.0  # one `systemctl show` or `journalctl`
SHOW = "systemctl show -p ActiveState,SubState,NRestarts,ExecMainStatus nomad"
JOURNAL = "journalctl -u nomad --no-pager -n 3"
DEAD_STATES = ("failed", "inactive")


def unit_state(output: str) -> dict[str, str]:
    """`systemctl show -p ...` as a dict (KEY=value lines)."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def died(state: dict[str, str], first_restarts: int | None) -> str | None:
    """Why the unit says its agent died ("failed, exit status 1"), or None while it runs or
    starts. `first_restarts`: NRestarts at the first look (None: systemd did not say)."""
    active, sub = state.get("ActiveState", ""), state.get("SubState", "")
    restarts = _int(state.get("NRestarts"))
    status = _int(state.get("ExecMainStatus"))
    if active in DEAD_STATES:
        return f"{active}, exit status {status}" if status else active
    exited = f"exited with status {status}" if status else "exited"
    if sub == "auto-restart":
        return f"{exited}, systemd restarts it"
    if restarts is not None and first_restarts is not None and restarts > first_restarts:
        return f"{exited}, restarted by systemd {restarts - first_restarts} time(s)"
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


@dataclass
class SshWatch:
    """`up`'s watch over SSH: called, it returns the servers found dead so far (name ->
    one line with why and the journal's last lines). The looks start at the first call
    (after every server was started: a unit not started yet is not dead) and end at
    `close`."""

    ws: Workspace
    servers: Sequence[Host]
    ssh: SshOptions
    every: float = LOOK_EVERY
    _dead: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __call__(self) -> dict[str, str]:
        with self._lock:
            if not self._threads and not self._stop.is_set():
                for host in self.servers:
                    t = threading.Thread(
                        target=self._watch_one, args=(host,), name=f"nomadctl-watch-{host.name}"
                    )
                    t.daemon = True  # a host that hangs never keeps nomadctl alive
                    t.start()
                    self._threads.append(t)
            return dict(self._dead)

    def close(self) -> None:
        """Stop looking. Each thread closes its own connection once its look under way is
        done; `up` does not wait for a slow host's (the threads are daemons)."""
        self._stop.set()

    def _watch_one(self, host: Host) -> None:
        session = session_for(self.ws, host, self.ssh, self._stop)
        first: int | None = None
        connected = False
        try:
            while not self._stop.is_set():
                try:
                    if not connected:
                        session.connect(wait=min(CONNECT_WAIT, self.ssh.connect_timeout))
                        connected = True
                    state = unit_state(session.run(SHOW, timeout=COMMAND_TIMEOUT).stdout)
                except Exception:  # unreachable, a broken connection: not a death
                    session.close()
                    connected = False
                else:
                    if first is None and state:
                        first = _int(state.get("NRestarts"))
                    why = died(state, first)
                    if why is not None:
                        self._found(host, why, _journal(session))
                        return
                self._stop.wait(self.every)
        finally:
            session.close()

    def _found(self, host: Host, why: str, tail: str) -> None:
        line = (
            f"{host.name}: the agent exited while the cluster was forming (systemd: {why}; "
            f"`nomadctl logs {host.name}` shows its log){': ' + tail if tail else ''}"
        )
        with self._lock:
            self._dead[host.name] = line


def _journal(session: Session) -> str:
    """The agent's last log lines as one line ("" when they cannot be read)."""
    try:
        out = session.sudo(JOURNAL, timeout=COMMAND_TIMEOUT).stdout
    except RemoteError:
        return ""
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return " | ".join(lines[-3:])
