"""Test helpers: run stand-in agents as local processes on loopback addresses.

Each agent gets its own 127.x.y.z address (all of 127/8 is routed to `lo`), so many agents use
Nomad's default ports side by side. Configuration is plain Nomad agent HCL, written by
`render_hcl` (also usable for testbed hosts).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import requests

from tests.standin import certs

T = TypeVar("T")

_hosts = itertools.count(2)
# Where the loopback /16s are claimed: one lock file per 127.N.0.0/16 (N in 64..191), held
# (flock) by the process that hands out addresses in it for as long as that process lives.
# pytest-xdist workers, and other test runs on the machine, each get a /16 of their own;
# os.getpid() % 128 alone (as before) let two workers whose pids differ by 128 meet.
LOOPBACK_LOCK_DIR = Path(tempfile.gettempdir()) / "nomadctl-loopback"
_claimed: list[tuple[int, IO[str]]] = []  # (N, the open lock file: closing it frees N)


def _claim_net() -> tuple[int, IO[str]]:
    LOOPBACK_LOCK_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    start = os.getpid() % 128
    for k in range(128):
        net = 64 + (start + k) % 128
        f = (LOOPBACK_LOCK_DIR / f"127.{net}.lock").open("a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        return net, f
    raise RuntimeError(f"no free loopback /16 in 127.64-191 (locks in {LOOPBACK_LOCK_DIR})")


def loopback_net() -> int:
    """N of the 127.N.0.0/16 this process owns (claimed on first use)."""
    if not _claimed:
        _claimed.append(_claim_net())
    return _claimed[0][0]


def next_ip() -> str:
    n = next(_hosts)
    return f"127.{loopback_net()}.{n // 250}.{n % 250 + 2}"


def wait_for(
    fn: Callable[[], T | None],
    timeout: float = 15.0,
    interval: float = 0.1,
    what: str = "condition",
    on_fail: Callable[[], str] | None = None,
) -> T:
    """Poll `fn` until it returns something truthy; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            extra = on_fail() if on_fail else ""
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last: {last!r}\n{extra}"
            )
        time.sleep(interval)


@dataclass
class Pki:
    """A CA, a CLI cert, per-node certs on demand, and a second unrelated CA."""

    dir: Path
    region: str = "global"
    ca: certs.CA = field(init=False)
    other_ca: certs.CA = field(init=False)
    cli: certs.CertPair = field(init=False)
    _serial: Iterator[int] = field(init=False, default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.ca = certs.make_ca(self.dir / "ca")
        self.other_ca = certs.make_ca(self.dir / "other-ca")
        self.cli = certs.make_cert(self.ca, self.dir / "cli", "cli", self.region)

    def node(self, role: str, ip: str, **kw: Any) -> certs.CertPair:
        ca = kw.pop("ca", self.ca)
        d = self.dir / f"{role}-{ip}-{next(self._serial)}"
        return certs.make_cert(ca, d, role, self.region, ips=(ip,), **kw)


@dataclass
class Spec:
    """What goes into one agent's HCL."""

    name: str
    ip: str
    server: bool = True
    client: bool = False
    bootstrap_expect: int = 3
    retry_join: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)  # client.servers
    acl: bool = True
    encrypt: str | None = None
    tls: certs.CertPair | None = None
    ca_file: Path | None = None
    verify_https_client: bool = True
    datacenter: str = "dc1"
    node_pool: str = "default"
    leave_on_terminate: bool = False
    bind_addr: str | None = None  # default: ip
    extra: str = ""


def render_hcl(spec: Spec, data_dir: Path | str) -> str:
    lines = [
        f'name       = "{spec.name}"',
        f'datacenter = "{spec.datacenter}"',
        f'data_dir   = "{data_dir}"',
        f'bind_addr  = "{spec.bind_addr or spec.ip}"',
        f"leave_on_terminate = {str(spec.leave_on_terminate).lower()}",
        f'advertise {{\n  http = "{spec.ip}"\n  rpc  = "{spec.ip}"\n  serf = "{spec.ip}"\n}}',
    ]
    if spec.server:
        join = ", ".join(f'"{a}"' for a in spec.retry_join)
        enc = f'\n  encrypt = "{spec.encrypt}"' if spec.encrypt else ""
        lines.append(
            f"server {{\n  enabled = true\n  bootstrap_expect = {spec.bootstrap_expect}"
            f"{enc}\n  server_join {{\n    retry_join = [{join}]\n  }}\n}}"
        )
    if spec.client:
        servers = ", ".join(f'"{a}"' for a in spec.servers)
        lines.append(
            f"client {{\n  enabled = true\n  servers = [{servers}]\n"
            f'  node_pool = "{spec.node_pool}"\n  meta {{\n    rack = "r1"\n  }}\n}}'
        )
    lines.append(f"acl {{\n  enabled = {str(spec.acl).lower()}\n}}")
    if spec.tls is not None:
        lines.append(
            "tls {\n  http = true\n  rpc = true\n"
            f'  ca_file = "{spec.ca_file}"\n  cert_file = "{spec.tls.cert}"\n'
            f'  key_file = "{spec.tls.key}"\n  verify_server_hostname = true\n'
            f"  verify_https_client = {str(spec.verify_https_client).lower()}\n}}"
        )
    lines.append('plugin "docker" {\n  config {\n    allow_privileged = false\n  }\n}')
    lines.append('plugin "raw_exec" {\n  config {\n    enabled = false\n  }\n}')
    lines.append('telemetry {\n  collection_interval = "1s"\n}')
    if spec.extra:
        lines.append(spec.extra)
    return "\n".join(lines) + "\n"


@dataclass
class Running:
    spec: Spec
    proc: subprocess.Popen[bytes]
    dir: Path
    log_path: Path
    session: requests.Session
    scheme: str

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.spec.ip}:4646{path}"

    def api(
        self,
        path: str,
        method: str = "GET",
        token: str | None = None,
        timeout: float = 5.0,
        **kw: Any,
    ) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if token:
            headers["X-Nomad-Token"] = token
        return self.session.request(method, self.url(path), headers=headers, timeout=timeout, **kw)

    def leader(self) -> str:
        r = self.api("/v1/status/leader", timeout=2.0)
        r.raise_for_status()
        return str(r.json())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


class LocalAgents:
    """Start agents from a stand-in binary; `close()` kills whatever is still running."""

    def __init__(self, binary: Path, workdir: Path, pki: Pki | None = None) -> None:
        self.binary, self.workdir, self.pki = binary, workdir, pki
        self.agents: list[Running] = []

    def start(self, spec: Spec, hcl: str | None = None) -> Running:
        d = self.workdir / spec.name
        (d / "config").mkdir(parents=True, exist_ok=True)
        (d / "config" / "nomad.hcl").write_text(hcl or render_hcl(spec, d / "data"))
        log_path = d / "agent.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [str(self.binary), "agent", "-config", str(d / "config")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would silently replace session.verify
        scheme = "http"
        if spec.tls is not None and self.pki is not None:
            scheme = "https"
            session.verify = str(self.pki.ca.cert)
            session.cert = (str(self.pki.cli.cert), str(self.pki.cli.key))
        agent = Running(spec, proc, d, log_path, session, scheme)
        self.agents.append(agent)
        return agent

    def wait_http(self, agent: Running, timeout: float = 10.0) -> None:
        def up() -> bool:
            if not agent.alive():
                raise AssertionError(f"{agent.spec.name} exited:\n{agent.log()}")
            agent.api("/v1/agent/health", timeout=1.0)
            return True

        wait_for(up, timeout, what=f"{agent.spec.name} HTTP API", on_fail=self.logs)

    def stop(self, agent: Running, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if agent.alive():
            agent.proc.send_signal(sig)
        try:
            return agent.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            agent.proc.kill()
            return agent.proc.wait(5)

    def logs(self) -> str:
        return "\n".join(
            f"----- {a.spec.name} ({a.spec.ip}) -----\n{a.log()[-4000:]}" for a in self.agents
        )

    def close(self) -> None:
        for a in self.agents:
            if a.alive():
                a.proc.kill()
        for a in self.agents:
            with contextlib.suppress(subprocess.TimeoutExpired):
                a.proc.wait(5)
            a.session.close()
