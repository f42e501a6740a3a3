"""SSH to nodes with paramiko: connect with retries, pinned host keys, run commands with sudo.

One `Session` is one connection to one host, used for every command of a step. Host keys are
trusted on first contact and recorded in the workspace's `known_hosts`; a key that changes
later is a hard error (possible man-in-the-middle), never accepted silently. Secrets travel
only on a command's stdin, never in its arguments.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from nomadctl.errors import RemoteError


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int = 22
    user: str = "ubuntu"

    @classmethod
    def parse(cls, spec: str, default_user: str) -> Endpoint:
        """`user@host[:port]` or `host`."""
        user, _, rest = spec.rpartition("@")
        host, _, port = rest.partition(":")
        if not host or (port and not port.isdigit()):
            raise RemoteError(f"bad SSH address {spec!r}: use user@host[:port]")
        return cls(host, int(port or 22), user or default_user)

    @property
    def known_hosts_name(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 3) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(text[-lines:]) or f"exit code {self.code}"


@dataclass
class Counters:
    """What one session cost: for benchmarks and for asserting 'nothing uploaded'."""

    connections: int = 0
    commands: int = 0
    uploads: int = 0  # commands that carried files on stdin
    bytes_sent: int = 0


class KnownHosts:
    """The workspace's known_hosts file, shared by parallel sessions."""

    def __init__(self, path: Path, write: Callable[[Path, bytes], None]) -> None:
        self.path = path
        self._write = write
        self._lock = threading.Lock()

    def load_into(self, keys: paramiko.HostKeys) -> None:
        if self.path.exists():
            keys.load(str(self.path))

    def record(self, name: str, key: paramiko.PKey) -> None:
        with self._lock:
            keys = paramiko.HostKeys()
            if self.path.exists():
                keys.load(str(self.path))
            keys.add(name, key.get_name(), key)
            lines = [
                f"{host} {k.get_name()} {k.get_base64()}\n"
                for host in keys
                for k in keys[host].values()
            ]
            self._write(self.path, "".join(lines).encode())

    def forget(self, name: str) -> None:
        with self._lock:
            if not self.path.exists():
                return
            kept = [
                line
                for line in self.path.read_text().splitlines(keepends=True)
                if line.split(" ", 1)[0] != name
            ]
            self._write(self.path, "".join(kept).encode())


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """First contact: record the key. A *changed* key never reaches here: paramiko refuses it."""

    def __init__(self, store: KnownHosts) -> None:
        self.store = store

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        self.store.record(hostname, key)


RETRYABLE = (
    paramiko.ssh_exception.NoValidConnectionsError,
    paramiko.ssh_exception.SSHException,
    socket.timeout,
    ConnectionError,
    EOFError,
    OSError,
)


@dataclass
class Session:
    """One SSH connection to one host (optionally through a bastion)."""

    endpoint: Endpoint
    key_path: Path
    known_hosts: KnownHosts
    bastion: Endpoint | None = None
    connect_timeout: float = 10.0
    counters: Counters = field(default_factory=Counters)
    cancel: threading.Event = field(default_factory=threading.Event)  # set: stop retrying
    _client: paramiko.SSHClient | None = None
    _jump: paramiko.SSHClient | None = None

    def _client_for(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        self.known_hosts.load_into(client.get_host_keys())
        client.set_missing_host_key_policy(_TrustOnFirstUse(self.known_hosts))
        return client

    def _connect_once(self) -> None:
        key = _load_private_key(self.key_path)
        sock = None
        if self.bastion is not None:
            self._jump = self._client_for()
            self._jump.connect(
                self.bastion.address,
                port=self.bastion.port,
                username=self.bastion.user,
                pkey=key,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            transport = self._jump.get_transport()
            assert transport is not None
            sock = transport.open_channel(
                "direct-tcpip", (self.endpoint.address, self.endpoint.port), ("127.0.0.1", 0)
            )
        client = self._client_for()
        client.connect(
            self.endpoint.address,
            port=self.endpoint.port,
            username=self.endpoint.user,
            pkey=key,
            sock=sock,
            timeout=self.connect_timeout,
            banner_timeout=self.connect_timeout,
            auth_timeout=self.connect_timeout,
            allow_agent=False,
            look_for_keys=False,
        )
        self._client = client
        self.counters.connections += 1

    def connect(self, wait: float = 0.0) -> Session:
        """Connect, retrying with backoff for up to `wait` seconds (freshly booted hosts)."""
        deadline = time.monotonic() + wait
        delay, auth_failures = 0.5, 0
        where = f"{self.endpoint.user}@{self.endpoint.address}:{self.endpoint.port}"
        while True:
            try:
                self._connect_once()
                return self
            except paramiko.BadHostKeyException:
                self.close()
                raise RemoteError(
                    f"host key of {self.endpoint.address} has CHANGED since first contact "
                    "(possible man-in-the-middle); if the host was really rebuilt, remove its "
                    f"line from {self.known_hosts.path} and re-run"
                ) from None
            except paramiko.AuthenticationException:
                self.close()
                auth_failures += 1
                if auth_failures >= 3 or time.monotonic() >= deadline:
                    raise RemoteError(
                        f"SSH to {where} refused the key {self.key_path} "
                        "(check --ssh-user and --ssh-key)"
                    ) from None
            except RETRYABLE as exc:
                self.close()
                if time.monotonic() >= deadline:
                    reason = str(exc) or type(exc).__name__
                    raise RemoteError(f"cannot reach {where} over SSH: {reason}") from None
            if self.cancel.wait(min(delay, max(0.0, deadline - time.monotonic()))):
                raise RemoteError(f"SSH to {where} cancelled")
            delay = min(delay * 2, 8.0)

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 900.0) -> Result:
        """Run `command` (a shell string) and return its result; stdin carries any secret."""
        if self._client is None:
            raise RemoteError(f"not connected to {self.endpoint.address}")
        transport = self._client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=self.connect_timeout)
        channel.settimeout(timeout)
        self.counters.commands += 1
        try:
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
                self.counters.uploads += 1
                self.counters.bytes_sent += len(stdin)
            channel.shutdown_write()
            err = bytearray()
            reader = threading.Thread(
                target=lambda: err.extend(channel.makefile_stderr("rb").read()), daemon=True
            )
            reader.start()
            out = channel.makefile("rb").read()
            reader.join(timeout)
            return Result(
                channel.recv_exit_status(),
                out.decode(errors="replace"),
                err.decode(errors="replace"),
            )
        except TimeoutError:
            raise RemoteError(
                f"command on {self.endpoint.address} did not finish within {timeout:.0f}s"
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise RemoteError(f"SSH to {self.endpoint.address} broke: {exc}") from None
        finally:
            channel.close()

    def sudo(self, script: str, stdin: bytes | None = None, timeout: float = 900.0) -> Result:
        """Run a shell script as root (through `sudo -n` unless we are root already)."""
        import shlex

        cmd = f"sh -c {shlex.quote(script)}"
        if self.endpoint.user != "root":
            cmd = f"sudo -n {cmd}"
        return self.run(cmd, stdin=stdin, timeout=timeout)

    def close(self) -> None:
        for client in (self._client, self._jump):
            if client is not None:
                client.close()
        self._client = self._jump = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _load_private_key(path: Path) -> paramiko.PKey:
    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(str(path))
        except FileNotFoundError:
            raise RemoteError(f"SSH key {path} does not exist") from None
        except paramiko.PasswordRequiredException:
            raise RemoteError(f"SSH key {path} is encrypted; use an unencrypted key") from None
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(str(exc))
    raise RemoteError(f"{path} is not an ed25519, ECDSA or RSA private key in a format we read")
