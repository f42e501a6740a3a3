"""Addresses for a cluster of agents on this machine.

Where all of 127.0.0.0/8 reaches this machine (Linux routes it to `lo`), every agent has its
own loopback address and Nomad's standard ports 4646-4648. Elsewhere (macOS routes only
127.0.0.1) every agent has its own three ports on 127.0.0.1. A cluster's block is derived
from its workspace path, so two clusters side by side start at different places; a block is
taken only when every address and port in it is free and no other cluster in the same home
has it recorded. The chosen addresses are recorded in state.json and kept on later runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nomadctl import trust
from nomadctl.errors import NomadctlError
from nomadctl.node.render import Ports

Mode = Literal["loopback", "ports"]
PORT_BASE, PORT_SPAN = 20000, 30000  # port mode: blocks within 20000-49999


@dataclass(frozen=True)
class Slot:
    """One agent's address and ports."""

    ip: str
    ports: Ports

    def to_dict(self) -> dict[str, Any]:
        p = self.ports
        return {"ip": self.ip, "http": p.http, "rpc": p.rpc, "serf": p.serf}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Slot:
        return cls(str(d["ip"]), Ports(int(d["http"]), int(d["rpc"]), int(d["serf"])))


def loopback_routable() -> bool:
    """Can a socket bind 127.0.0.2 (is 127.0.0.0/8 this machine's, not only 127.0.0.1)?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


def port_free(ip: str, port: int) -> bool:
    """Can an agent listen on ip:port (TCP, and UDP for serf's gossip)?

    SO_REUSEADDR as Go's listeners set it, so a port in TIME_WAIT counts as free."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError:
                return False
    return True


def slot_free(slot: Slot) -> bool:
    return all(port_free(slot.ip, p) for p in (slot.ports.http, slot.ports.rpc, slot.ports.serf))


def _seed(ws_path: Path) -> int:
    return int.from_bytes(hashlib.sha256(str(ws_path).encode()).digest()[:4], "big")


def block(mode: Mode, index: int, count: int) -> list[Slot]:
    """The `index`-th block of `count` slots."""
    if mode == "loopback":
        # 127.<a>.<b>.<1..count>: 254*254 blocks, 127.0.0.x left to other software.
        a, b = 1 + index % 254, 1 + (index // 254) % 254
        if count > 250:
            raise NomadctlError(f"{count} agents do not fit one loopback block (at most 250)")
        return [Slot(f"127.{a}.{b}.{i + 1}", Ports()) for i in range(count)]
    width = 3 * count
    start = PORT_BASE + (index * width) % (PORT_SPAN - width)
    return [
        Slot("127.0.0.1", Ports(start + 3 * i, start + 3 * i + 1, start + 3 * i + 2))
        for i in range(count)
    ]


def taken_by_others(home: Path, own: Path) -> set[tuple[str, int]]:
    """(ip, port) pairs other local clusters under `home` have recorded."""
    taken: set[tuple[str, int]] = set()
    for state_path in Path(home).glob("*/state.json"):
        if state_path.parent == own:
            continue
        with contextlib.suppress(
            OSError, ValueError, KeyError, TypeError, AttributeError, NomadctlError
        ):  # another cluster's record, only to avoid its ports: one we cannot trust is skipped
            raw = trust.read_file(state_path, home)
            nodes = (json.loads(raw).get("local") or {}).get("nodes") or {}
            for d in nodes.values():
                s = Slot.from_dict(d)
                taken.update((s.ip, p) for p in (s.ports.http, s.ports.rpc, s.ports.serf))
    return taken


def allocate(home: Path, ws_path: Path, count: int, mode: Mode, tries: int = 200) -> list[Slot]:
    """The first free block at or after the cluster's own starting point."""
    taken = taken_by_others(home, ws_path)
    seed = _seed(ws_path)
    for attempt in range(tries):
        slots = block(mode, seed + attempt, count)
        pairs = {(s.ip, p) for s in slots for p in (s.ports.http, s.ports.rpc, s.ports.serf)}
        if not pairs & taken and all(slot_free(s) for s in slots):
            return slots
    raise NomadctlError(
        f"no free addresses for {count} agents on this machine after {tries} tries "
        "(other clusters or programs hold them)"
    )


def assign(
    names: Sequence[str],
    recorded: dict[str, Slot],
    home: Path,
    ws_path: Path,
    mode: Mode,
) -> dict[str, Slot]:
    """Keep every recorded slot; new agents of a recorded cluster get free slots next to
    its own (same 127.a.b.0/24, or the ports after its last), a new cluster a free block."""
    out = {n: recorded[n] for n in names if n in recorded}
    missing = [n for n in names if n not in out]
    if not missing:
        return out
    if not recorded:
        return dict(zip(names, allocate(home, ws_path, len(names), mode), strict=True))
    taken = taken_by_others(home, ws_path)
    for name in missing:
        out[name] = _next_to(list(recorded.values()) + list(out.values()), mode, taken)
    return out


def _next_to(used: Sequence[Slot], mode: Mode, taken: set[tuple[str, int]]) -> Slot:
    mine = {(s.ip, p) for s in used for p in (s.ports.http, s.ports.rpc, s.ports.serf)}
    if mode == "loopback":
        prefix = used[0].ip.rsplit(".", 1)[0]
        candidates = (Slot(f"{prefix}.{i}", Ports()) for i in range(1, 255))
    else:
        last = max(s.ports.serf for s in used)
        candidates = (Slot("127.0.0.1", Ports(p, p + 1, p + 2)) for p in range(last + 1, 65533, 3))
    for slot in candidates:
        pairs = {(slot.ip, p) for p in (slot.ports.http, slot.ports.rpc, slot.ports.serf)}
        if not pairs & (mine | taken) and slot_free(slot):
            return slot
    raise NomadctlError("no free address next to the cluster's own for a new agent")


def docker_answers(socket_path: str = "/var/run/docker.sock", timeout: float = 1.0) -> bool:
    """Does a Docker daemon answer `GET /_ping` on its unix socket?"""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        socket_path = host[len("unix://") :]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(socket_path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return s.recv(64).split(b"\r\n", 1)[0].split()[1:2] == [b"200"]
    except (OSError, IndexError):
        return False
