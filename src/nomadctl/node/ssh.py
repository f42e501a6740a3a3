"""SSH to nodes with paramiko: connect with retries, pinned host keys, run commands with sudo.

One `Session` is one connection to one host, used for every command of a step. Host keys are
trusted on first contact and recorded in the workspace's `known_hosts`; a key that changes
later is a hard error (possible man-in-the-middle), never accepted silently. Secrets travel
only on a command's stdin, never in its arguments.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from nomadctl.connfail import why_unreachable
from nomadctl.errors import RemoteError
from nomadctl.validate import endpoint
from nomadctl.workspace import check_secret


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int = 22
    user: str = "ubuntu"

    @classmethod
    def parse(cls, spec: str, default_user: str) -> Endpoint:
        """`user@host[:port]` or `host` (IPv6 as `[addr]:port`), user and host checked."""

        try:
            addr = endpoint(spec)
        except ValueError as exc:
            raise RemoteError(f"bad SSH address {spec!r}: {exc}; use user@host[:port]") from None
        return cls(addr.host, addr.port or 22, addr.user or default_user)

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
    """The workspace's known_hosts file, shared by parallel sessions and processes.

    Every change happens under a lock held across read, compare and write: a thread lock for
    this process and an flock on `known_hosts.lock` (flock also excludes other threads' own
    opens, and other nomadctl processes). So two sessions meeting a new host at once cannot
    pin two different keys for it: the second compares with what the first pinned."""

    def __init__(self, path: Path, write: Callable[[Path, bytes], None]) -> None:
        self.path = path
        self._write = write
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl
        import os

        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(
                self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _read(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.path.exists():
            keys.load(str(self.path))
        return keys

    def _save(self, keys: paramiko.HostKeys) -> None:
        lines = [
            f"{host} {k.get_name()} {k.get_base64()}\n"
            for host in keys
            for k in keys[host].values()
        ]
        self._write(self.path, "".join(lines).encode())

    def pinned(self, name: str) -> bool:
        """Is a key pinned for `name` (an address, or `[address]:port`)?"""
        with self._locked():
            return bool(self._read().lookup(name))

    def load_into(self, keys: paramiko.HostKeys) -> None:
        if self.path.exists():
            keys.load(str(self.path))

    def pin(self, name: str, key: paramiko.PKey) -> None:
        """First contact with `name`: record `key`, unless another session pinned a key for
        it meanwhile; then `key` must be that one (BadHostKeyException otherwise)."""
        with self._locked():
            keys = self._read()
            pinned = keys.lookup(name)
            if pinned:
                if any(k == key for k in pinned.values()):
                    return
                raise paramiko.BadHostKeyException(name, key, next(iter(pinned.values())))
            keys.add(name, key.get_name(), key)
            self._save(keys)

    def forget(self, *addresses: str) -> list[str]:
        """Drop the pins of `addresses` (any port): hosts that were destroyed. Their IPs go
        back to the provider's pool, and a new machine there has a new key."""
        wanted = {a for a in addresses if a}
        with self._locked():
            if not self.path.exists():
                return []
            kept, dropped = [], []
            for line in self.path.read_text().splitlines(keepends=True):
                names = line.split(" ", 1)[0].split(",")
                bare = {n[1:].rsplit("]:", 1)[0] if n.startswith("[") else n for n in names}
                (dropped if bare & wanted else kept).append(line)
            if dropped:
                self._write(self.path, "".join(kept).encode())
            return [line.split(" ", 1)[0] for line in dropped]


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """First contact: pin the key. A *changed* key never reaches here: paramiko refuses it."""

    def __init__(self, store: KnownHosts) -> None:
        self.store = store

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        self.store.pin(hostname, key)


class UnverifiedHostKey(RemoteError):
    """A host whose key must come from a trusted source (an AWS instance's own console),
    met before that key was pinned: refused, never pinned on the network's word."""


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    """No first use on trust: a host with no pinned key is refused (issue 28 point 8)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        raise UnverifiedHostKey(
            f"{hostname}: its SSH host key was never verified (an instance's key is pinned "
            "from its console output, which `nomadctl up` reads first); not connecting"
        )


class _Jumps:
    """This process's connections to jump hosts, one per (bastion, key, known_hosts file):
    a run of nomadctl opens one connection to its bastion, however many nodes it reaches
    through it. They live until the process ends (or `close_jumps`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[Endpoint, str, str], paramiko.SSHClient] = {}

    def transport(self, session: Session, key: paramiko.PKey) -> paramiko.Transport:
        bastion = session.bastion
        assert bastion is not None
        ident = (bastion, str(session.key_path), str(session.known_hosts.path))
        with self._lock:
            client = self._clients.get(ident)
            transport = client.get_transport() if client else None
            if transport is not None and transport.is_active():
                return transport
            client = session._client_for()
            where = f"bastion {bastion.user}@{bastion.known_hosts_name}"
            try:
                client.connect(
                    bastion.address,
                    port=bastion.port,
                    username=bastion.user,
                    pkey=key,
                    timeout=session.connect_timeout,
                    banner_timeout=session.connect_timeout,
                    auth_timeout=session.connect_timeout,
                    allow_agent=False,
                    look_for_keys=False,
                )
            except paramiko.BadHostKeyException:
                client.close()
                raise RemoteError(
                    f"host key of {where} has CHANGED since first contact (possible "
                    "man-in-the-middle); if it was really rebuilt, remove its line from "
                    f"{session.known_hosts.path} and re-run"
                ) from None
            except paramiko.AuthenticationException:
                client.close()
                raise RemoteError(
                    f"SSH to {where} refused the key {session.key_path} (check --bastion)"
                ) from None
            except BaseException:
                client.close()
                raise
            self._clients[ident] = client  # not in any node's counters: it is no node's
            transport = client.get_transport()
            assert transport is not None
            return transport

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


_JUMPS = _Jumps()
atexit.register(_JUMPS.close)


def close_jumps() -> None:
    _JUMPS.close()


RETRYABLE = (
    paramiko.ssh_exception.NoValidConnectionsError,
    paramiko.ssh_exception.SSHException,
    socket.timeout,
    ConnectionError,
    EOFError,
    OSError,
)
SSH_PROGRESS_EVERY = 10.0  # seconds between two identical "waiting for SSH" lines


class SshUnreachable(RemoteError):
    """The host did not answer SSH (refused, timed out, no route): it may be down or gone."""


class _ViaBastion(ConnectionError):
    """The bastion itself could not be reached (retried like any connection failure)."""

    def __init__(self, inner: BaseException) -> None:
        super().__init__(str(inner))
        self.inner = inner


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
    first_use: bool = True  # False: an unknown host key is refused, never pinned (AWS)
    _client: paramiko.SSHClient | None = None

    def _client_for(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        self.known_hosts.load_into(client.get_host_keys())
        client.set_missing_host_key_policy(
            _TrustOnFirstUse(self.known_hosts) if self.first_use else _RefuseUnknown()
        )
        return client

    def _connect_once(self) -> None:
        key = _load_private_key(self.key_path)
        sock = None
        if self.bastion is not None:
            try:
                transport = _JUMPS.transport(self, key)
            except RETRYABLE as exc:
                raise _ViaBastion(exc) from exc
            sock = transport.open_channel(
                "direct-tcpip",
                (self.endpoint.address, self.endpoint.port),
                ("127.0.0.1", 0),
                timeout=self.connect_timeout,
            )
        client = self._client_for()
        try:
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
        except BaseException:
            client.close()
            raise
        self._client = client
        self.counters.connections += 1

    def connect(self, wait: float = 0.0, progress: Callable[[str], None] | None = None) -> Session:
        """Connect, retrying with backoff for up to `wait` seconds (freshly booted hosts).

        While it retries, `progress` hears what it waits for: elapsed time, attempts, and the
        last reason (when the reason changes, else every SSH_PROGRESS_EVERY seconds)."""
        started = time.monotonic()
        deadline = started + wait
        delay, auth_failures, attempts = 0.5, 0, 0
        shown, shown_at = "", 0.0
        where = f"{self.endpoint.user}@{self.endpoint.address}:{self.endpoint.port}"
        while True:
            attempts += 1
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
                reason = "key refused"
                if auth_failures >= 3 or time.monotonic() >= deadline:
                    raise RemoteError(
                        f"{self.endpoint.address} refused SSH login as {self.endpoint.user!r} "
                        f"with the key {self.key_path}: the user or the key is wrong (check "
                        "--ssh-user and --ssh-key)"
                    ) from None
            except RETRYABLE as exc:
                self.close()
                if isinstance(exc, _ViaBastion) and self.bastion is not None:
                    reason, sentence = why_unreachable(
                        exc.inner, self.bastion.address, self.bastion.port, self.connect_timeout
                    )
                    reason, sentence = f"bastion: {reason}", f"the bastion: {sentence}"
                else:
                    reason, sentence = why_unreachable(
                        exc, self.endpoint.address, self.endpoint.port, self.connect_timeout
                    )
                elapsed = time.monotonic() - started
                if time.monotonic() >= deadline:
                    tried = f" (tried {attempts} times in {elapsed:.0f}s)" if attempts > 1 else ""
                    raise SshUnreachable(
                        f"cannot reach {where} over SSH{tried}: {sentence}; fix that and "
                        "re-run the command"
                    ) from None
            now = time.monotonic()
            if progress is not None and (reason != shown or now - shown_at >= SSH_PROGRESS_EVERY):
                progress(
                    f"waiting for SSH on {self.endpoint.address}: {reason} "
                    f"({now - started:.0f}s of {wait:.0f}s, attempt {attempts})"
                )
                shown, shown_at = reason, now
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
        if self._client is not None:
            self._client.close()  # the shared bastion connection stays for the next node
        self._client = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _load_private_key(path: Path) -> paramiko.PKey:
    """The private key at `path`, refused if others may read it (as OpenSSH refuses an
    "UNPROTECTED PRIVATE KEY FILE")."""

    if path.exists():
        check_secret(path)
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
