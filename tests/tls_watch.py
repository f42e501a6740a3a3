"""Watch a CA rotation from outside, over real TLS: at each moment, which CA signed the
certificate every agent serves, and whether the agent already trusts the new CA.

Used by the rotation tests of the hosts (tests/plan/test_day2_certs.py) and of the local provider
(tests/providers/local/test_local.py). Each round probes every agent's HTTPS port twice:

- `served`: a handshake presenting the cli certificate (the old CA's, trusted throughout
  step 1), without verifying the agent: "old" or "new" for the CA that signed its leaf;
- `trusts_new`: a request presenting a throwaway client certificate of the new CA: the agent
  (verify_https_client) answers it only once it reloaded a `ca_file` that holds the new CA.

Refused probes make the agent log a TLS handshake error on its HTTP listener, as do the
probes of `up`'s own check (nomadctl.node.confirm: refused until the agent has reloaded, by
design). Agents meet each other on the RPC port (servers among themselves, clients to
servers), so `peer_refusals` counts the refusals there.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from nomadctl.pki import issue

State = tuple[str | None, bool | None]  # (CA of the served leaf: "old" | "new" | None,
# trusts the new CA: True | False | None when it did not answer at all)


@dataclass
class TlsWatch:
    agents: list[tuple[str, int]]  # (address, HTTPS port)
    old_ca: x509.Certificate
    new_ca: x509.Certificate
    cli: tuple[Path, Path]  # the old CA's cli certificate and key
    probe: tuple[Path, Path]  # a client certificate of the new CA and its key
    rounds: list[list[State]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def _context(self, pair: tuple[Path, Path]) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # we look, not verify
        ctx.load_cert_chain(str(pair[0]), str(pair[1]))
        return ctx

    def _connect(self, ctx: ssl.SSLContext, address: str, port: int) -> ssl.SSLSocket:
        raw = socket.create_connection((address, port), timeout=2)
        return ctx.wrap_socket(raw, server_hostname=None)

    def served(self, ctx: ssl.SSLContext, address: str, port: int) -> str | None:
        try:
            with self._connect(ctx, address, port) as tls:
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None
        if der is None:
            return None
        cert = x509.load_der_x509_certificate(der)
        if issue.signed_by(self.new_ca, cert):
            return "new"
        return "old" if issue.signed_by(self.old_ca, cert) else None

    def trusts_new(self, ctx: ssl.SSLContext, address: str, port: int) -> bool | None:
        """True: it answered a client of the new CA; False: it refused one (TLS); None: no
        listener, or the connection closed without a word. Nomad shuts its HTTP server down
        and opens a new one on a TLS reload (command/agent/command.go reloadHTTPServer), so
        a probe in that gap learns nothing about trust."""
        try:
            with self._connect(ctx, address, port) as tls:
                tls.sendall(b"GET /v1/agent/health HTTP/1.0\r\nHost: probe\r\n\r\n")
                head = tls.recv(5)
        except (ConnectionRefusedError, ConnectionResetError):  # a listener shut mid-reload
            return None
        except (OSError, ssl.SSLError):
            return False
        return None if head == b"" else head == b"HTTP/"

    def snapshot(self) -> list[State]:
        """One round now, from any thread (not recorded in `rounds`)."""
        cli, probe = self._context(self.cli), self._context(self.probe)
        return [(self.served(cli, a, p), self.trusts_new(probe, a, p)) for a, p in self.agents]

    def run(self) -> None:
        while not self.stop.is_set():
            self.rounds.append(self.snapshot())
            self.stop.wait(0.01)

    def __enter__(self) -> TlsWatch:
        """Starts watching; returns once a first round saw the agents as they were."""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        while not self.rounds and self.thread.is_alive():
            self.stop.wait(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()

    # ---- what the rounds must show -----------------------------------------------------------

    def premature(self) -> list[list[State]]:
        """Rounds in which some agent served a leaf of the new CA while another did not yet
        trust the new CA: what a one-pass rotation does (its peers would refuse it). An agent
        that does not answer in a round (None: Nomad reopens its HTTP listener on a TLS reload,
        command/agent/command.go handleReload) says nothing either way and is left out."""
        return [
            r
            for r in self.rounds
            if any(s == "new" for s, _ in r) and any(t is False for _, t in r)
        ]

    def between_passes(self) -> bool:
        """Some round saw every agent trust the new CA while each still served the old CA's
        leaf: pass 1 done everywhere, pass 2 not yet begun. A one-pass rotation has none."""
        return any(all(s == "old" and t for s, t in r) for r in self.rounds)


def probe_pair(ca: issue.KeyPair, where: Path) -> tuple[Path, Path]:
    """A client certificate of `ca` for the `trusts_new` probe, written under `where`."""
    pair = issue.new_leaf(ca, "cli")
    cert, key = where / "probe.pem", where / "probe-key.pem"
    cert.write_bytes(issue.cert_pem(pair.cert))
    key.write_bytes(issue.key_pem(pair.key))
    key.chmod(0o600)
    return cert, key


def peer_refusals(log: str) -> list[str]:
    """The agent's TLS handshake errors on its RPC listener: refusals of its peers. (HTTP
    refusals are of HTTP clients: the watcher's probes and `up`'s own trust check.)"""
    return [line for line in log.splitlines() if "rpc: TLS handshake error from " in line]
