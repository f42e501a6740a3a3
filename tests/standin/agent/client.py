"""Client agents: register and heartbeat as a node, forward API calls to the servers."""

from __future__ import annotations

import contextlib
import copy
import functools
import http.client
import os
import random
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import discover
from .common import (
    HEARTBEAT,
    NODE_TTL,
    REVISION,
    VERSION,
    ApiError,
    as_bool,
    read_or_create_id,
    split_host_port,
)
from .transport import Response, response_from, text_error

if TYPE_CHECKING:
    from .main import Agent


# ------------------------------------------------------------------------------ clients


class ClientRole:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        cfg = self.cfg = agent.cfg
        self.log = agent.log
        d = Path(cfg.data_dir) / "client"
        d.mkdir(parents=True, exist_ok=True)
        self.node_id = read_or_create_id(d / "client-id")
        self.secret_id = read_or_create_id(d / "secret-id")
        self.servers: list[str] = []
        for s in cfg.client_servers:
            if discover.is_auto_join(s):
                discover.log_lookup(s, self.log)
                continue
            host, port = split_host_port(s, 4647)
            self.servers.append(f"{host}:{port}")
        if agent.server is not None:
            self.servers.insert(0, agent.server.rpc_addr)
        self.current = 0
        self.registered = False
        self.lock = threading.Lock()

    def node(self) -> dict[str, Any]:
        cfg = self.cfg
        ip, port = cfg.advertise["http"]
        drivers = {}
        docker = (cfg.plugins.get("docker") or {}).get("config") or {}
        raw_exec = (cfg.plugins.get("raw_exec") or {}).get("config") or {}
        privileged = str(as_bool(docker.get("allow_privileged", False))).lower()
        drivers["docker"] = {
            "Detected": False,
            "Healthy": False,
            "HealthDescription": "stand-in: no docker",
            "Attributes": {"driver.docker.privileged.enabled": privileged},
        }
        if as_bool(raw_exec.get("enabled", False)):
            drivers["raw_exec"] = {"Detected": True, "Healthy": True, "Attributes": {}}
        return {
            "ID": self.node_id,
            "Name": cfg.name,
            "Datacenter": cfg.datacenter,
            "NodePool": cfg.node_pool,
            "NodeClass": cfg.node_class,
            "Address": ip,
            "HTTPAddr": f"{ip}:{port}",
            "TLSEnabled": cfg.tls.http,
            "Drain": False,
            "SchedulingEligibility": "eligible",
            "Version": VERSION,
            "Attributes": {
                "nomad.version": VERSION,
                "nomad.revision": REVISION,
                "unique.hostname": socket.gethostname(),
                "kernel.name": "linux",
                "unique.network.ip-address": ip,
                "os.name": "linux",
            },
            "Meta": dict(cfg.meta),
            "Drivers": drivers,
            **copy.deepcopy(node_resources(cfg.data_dir)),
        }

    def start(self) -> None:
        if not self.servers:
            self.log("WARN", "client: no servers configured (client.servers / server_join)")
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        # Until registered, retry every HEARTBEAT; then heartbeat at a quarter of the TTL
        # (Nomad's clients heartbeat well inside their TTL too). Every heartbeat is a fresh
        # mutual-TLS connection to a server, often forwarded to the leader: at HEARTBEAT,
        # 21 clients kept three servers' CPU a third busy on a 2-core testbed.
        while not self.agent.stop.is_set():
            self.heartbeat()
            self.agent.stop.wait(NODE_TTL / 4 if self.registered else HEARTBEAT)

    def ordered_servers(self) -> list[str]:
        with self.lock:
            s = list(self.servers)
            c = self.current % len(s) if s else 0
        return s[c:] + s[:c]

    def heartbeat(self) -> None:
        node = self.node()
        if not self.registered:  # client/client.go registerNode: Node.Register, which
            node["__register"] = True  # upserts the node even when nothing changed
        last_error = ""
        for i, server in enumerate(self.ordered_servers()):
            try:
                reply = self.agent.rpc.call(server, "/rpc/node", node)
            except (OSError, ApiError, ValueError, http.client.HTTPException) as exc:
                last_error = f"{server}: {exc}"
                continue
            with self.lock:
                self.current = (self.current + i) % max(len(self.servers), 1)
                for s in reply.get("Servers", []):
                    if s not in self.servers:
                        self.servers.append(s)
            if not self.registered:
                self.log("INFO", f"client: node registration complete: node_id={self.node_id}")
                self.registered = True
            return
        if self.registered or last_error:
            self.log(
                "WARN" if self.registered else "DEBUG",
                f"client: error heartbeating to servers: {last_error or 'no servers'}",
            )
        with self.lock:
            self.current += 1
        self.registered = False

    def forward(self, payload: dict[str, Any]) -> Response:
        """An API call the client agent sends to a server: client/rpc.go rpc (v1.10.5). The
        current server is asked; on an error it is moved to the back (NotifyFailedServer),
        and the call is made again, after a stagger of up to RPCHoldTimeout/JitterFraction,
        only when canRetry says it is safe: a "No cluster leader", or a read whose
        connection ended (helper.IsErrEOF), until RPCHoldTimeout (5 s, client/config) has
        passed. A refused dial or a reset is returned at once, as "rpc error: ...". Blocking
        queries' longer deadline (TimeToBlock) is not modelled."""
        read = payload.get("method") in ("GET", "HEAD")
        deadline = time.monotonic() + RPC_HOLD_TIMEOUT
        while True:
            servers = self.ordered_servers()
            if not servers:
                return text_error(500, "no servers")  # client/client.go noServersErr
            server, status = servers[0], 500
            try:
                resp = response_from(self.agent.rpc.call(server, "/rpc/http", payload, 5.0))
            except ApiError as exc:
                status, error, retry = exc.status, exc.text, "No cluster leader" in exc.text
            except (OSError, ValueError, http.client.HTTPException) as exc:
                error, retry = f"rpc error: {exc}", read and _eof(exc)
            else:
                if resp.status != 500 or b"No cluster leader" not in resp.body:
                    return resp
                error, retry = "No cluster leader", True  # structs.IsErrNoLeader
            self.log(
                "ERROR",
                f'client.rpc: error performing RPC to server: error="{error}" server={server}',
            )
            self._failed(server)
            if not retry or time.monotonic() > deadline:
                return text_error(status, error)
            time.sleep(random.uniform(0, RPC_HOLD_TIMEOUT / JITTER_FRACTION))

    def _failed(self, server: str) -> None:
        """servers.Manager.NotifyFailedServer: the failed server, if still the first, goes
        to the back of the list."""
        with self.lock:
            s = list(self.servers)
            if s and s[self.current % len(s)] == server:
                self.current += 1


RPC_HOLD_TIMEOUT = 5.0  # client/config/config.go DefaultConfig RPCHoldTimeout
JITTER_FRACTION = 16  # nomad/structs JitterFraction


def _eof(exc: BaseException) -> bool:
    """helper/eof.go IsErrEOF: the connection ended (io.EOF) after the call was sent. Go
    reports a reset as "connection reset by peer", not EOF; a refused dial is no EOF."""
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return True
    return isinstance(exc, ssl.SSLEOFError)


MHZ_PER_CORE = 2000  # the stand-in's fingerprint of a core's clock


@functools.cache  # fingerprinted once, as at the client's start: heartbeats change nothing
def node_resources(data_dir: str) -> dict[str, Any]:
    """NodeResources and ReservedResources as a client fingerprints them (nomad/structs
    structs.go NodeResources: Cpu (LegacyNodeCpuResources), Processors, Memory, Disk,
    Devices, NodeNetworks, Networks, Min/MaxDynamicPort; NodeReservedResources: Cpu, Memory,
    Disk, Networks) from this machine: cores, /proc/meminfo, the data dir's file system.
    Nothing reserved (the stand-in reads no `client.reserved` block)."""
    cores = os.cpu_count() or 1
    memory_mb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    disk_mb = 0
    with contextlib.suppress(OSError):
        disk_mb = shutil.disk_usage(data_dir).free // (1024 * 1024)
    return {
        "NodeResources": {
            "Cpu": {
                "CpuShares": cores * MHZ_PER_CORE,
                "TotalCpuCores": cores,
                "ReservableCpuCores": list(range(cores)),
            },
            "Processors": {"Topology": None},
            "Memory": {"MemoryMB": memory_mb},
            "Disk": {"DiskMB": disk_mb},
            "Devices": None,
            "NodeNetworks": None,
            "Networks": None,
            "MinDynamicPort": 20000,  # client.min_dynamic_port default
            "MaxDynamicPort": 32000,  # client.max_dynamic_port default
        },
        "ReservedResources": {
            "Cpu": {"CpuShares": 0, "ReservedCpuCores": None},
            "Memory": {"MemoryMB": 0},
            "Disk": {"DiskMB": 0},
            "Networks": {"ReservedHostPorts": ""},
        },
    }
