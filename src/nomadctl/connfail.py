"""Failed connections told as one sentence: what happened, the likely cause, what to do.

Used by cluster/api.py (HTTP to the Nomad API through requests/urllib3) and node/ssh.py (SSH
through paramiko), so it stands below both and knows neither: they hand it plain values.
Nothing here connects anywhere; it reads the exceptions those libraries raise: requests
wraps urllib3's MaxRetryError, whose `reason` is a NewConnectionError, NameResolutionError,
SSLError or timeout, which wraps the socket error; paramiko's NoValidConnectionsError holds
one socket error per address family (with errno None itself).
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: requests -> urllib3 MaxRetryError.reason -> NewConnectionError
    -> the socket error, through `reason`, `args`, `__cause__` and `__context__`."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.append(current)
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += list(getattr(current, "args", ()))
        todo += [e for e in nested if isinstance(e, BaseException)]
    return seen


def failure_kind(exc: Any) -> tuple[str, str]:
    """(kind, detail) of a failed HTTP connection: refused, timeout, tls-verify, tls, dns,
    route, closed, or other."""
    if not isinstance(exc, BaseException):
        return "other", str(exc)[:160]

    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    codes = {e.errno for e in chain if isinstance(e, OSError) and e.errno}
    text = " ".join(str(e) for e in chain)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return "tls-verify", e.verify_message or "certificate verify failed"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "tls-verify", "certificate verify failed"
    if errno.ECONNREFUSED in codes or isinstance(exc, ConnectionRefusedError):
        return "refused", ""
    if "NameResolutionError" in names or any(isinstance(e, socket.gaierror) for e in chain):
        return "dns", ""
    if codes & {errno.EHOSTUNREACH, errno.ENETUNREACH}:
        return "route", ""
    timeouts = {"ConnectTimeout", "ReadTimeout", "ConnectTimeoutError", "ReadTimeoutError"}
    if names & timeouts or any(isinstance(e, TimeoutError) for e in chain):
        return "timeout", ""
    if any(isinstance(e, ssl.SSLEOFError) for e in chain) or "UNEXPECTED_EOF" in text:
        return "closed", ""
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return "tls", (e.reason or str(e)).replace("_", " ").lower()
    if names & {"SSLError"}:
        return "tls", "handshake failed"
    if errno.ECONNRESET in codes or names & {"RemoteDisconnected", "ProtocolError"}:
        return "closed", ""
    first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return "other", first


def nothing_sent(exc: Any) -> bool:
    """Did the connection fail before it could carry a request (refused, or reset or timed
    out while connecting)? Such a call never reached Nomad and is safe to make again; one
    that failed later (the connection closed before the answer) may have been applied."""
    if not isinstance(exc, BaseException):
        return False
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    refused = any(isinstance(e, ConnectionRefusedError) for e in chain)
    return refused or bool(names & {"NewConnectionError", "ConnectTimeoutError", "ConnectTimeout"})


@dataclass(frozen=True)
class Reaching:
    """What the API client was trying, as far as the words need it."""

    timeout: float
    ca_file: str | None = None
    from_env: bool = False  # NOMAD_ADDR and friends, not the workspace, chose the target


def unreachable_sentence(kind: str, detail: str, addresses: Sequence[str], target: Reaching) -> str:
    """One sentence for the addresses that failed one way: what happened, the likely cause,
    and what to do."""
    where = ", ".join(addresses)
    from_env = target.from_env
    if kind == "refused":
        return (
            f"{where} refused the connection: no Nomad agent listens there (the agents are "
            "stopped, or the address or port is wrong; `nomadctl up` starts them again)"
        )
    if kind == "timeout":
        return (
            f"{where} did not answer within {target.timeout:g}s: the servers are down or "
            "still booting, or a firewall drops the port (on AWS, is your IP in --allow-cidr?)"
        )
    if kind == "tls-verify":
        ca = target.ca_file or "the system's CAs"
        fix = "NOMAD_CACERT and NOMAD_ADDR" if from_env else "the cluster's CA (nomadctl certs)"
        return (
            f"{where} showed a certificate not trusted by {ca} ({detail}): that is another "
            f"cluster, or the CA is not this cluster's; check {fix}"
        )
    if kind == "tls":
        fix = "NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY" if from_env else "the cli certificate"
        return (
            f"{where} refused the TLS handshake ({detail}): the API wants a client "
            f"certificate signed by the cluster's CA; check {fix}"
        )
    if kind == "dns":
        return f"the name in {where} does not resolve: check the address (NOMAD_ADDR)"
    if kind == "route":
        return f"there is no network route to {where}: check the address and your VPN or network"
    if kind == "closed":
        return (
            f"{where} closed the connection before answering: it is not a Nomad API port, "
            "or the agent refused this client; check the address, the scheme (https://) and "
            "the client certificate"
        )
    return f"{where} failed: {detail}"


def _errnos(exc: BaseException) -> set[int]:
    """The socket errors behind `exc` (paramiko's NoValidConnectionsError holds one per
    address family, with errno None itself)."""
    found = {exc.errno} if isinstance(exc, OSError) and exc.errno else set()
    for inner in getattr(exc, "errors", {}).values():
        if isinstance(inner, OSError) and inner.errno:
            found.add(inner.errno)
    return found


def why_unreachable(exc: BaseException, address: str, port: int, timeout: float) -> tuple[str, str]:
    """(short reason for progress lines, one sentence with the likely cause) for an SSH
    connection to `address`:`port` that failed before authentication."""
    codes = _errnos(exc)
    if errno.ECONNREFUSED in codes:
        return "connection refused", (
            f"{address} refused the connection on port {port}: no SSH server listens "
            "there (the host is still booting, sshd is stopped, or the address is wrong)"
        )
    if codes & {errno.EHOSTUNREACH, errno.ENETUNREACH}:
        return "no route to host", (
            f"there is no network route to {address}: the host is down or the address "
            "is wrong (check it, and your VPN or network)"
        )
    if isinstance(exc, socket.timeout | TimeoutError) or errno.ETIMEDOUT in codes:
        return "no answer", (
            f"{address} did not answer on port {port} within {timeout:.0f}s: the host "
            "is down, the address is wrong, or a firewall drops SSH (on AWS, is your IP in "
            "--allow-cidr?)"
        )
    if type(exc).__name__ == "ChannelException":
        return "bastion cannot connect", (
            f"the bastion could not open a connection to {address}:{port} "
            f"({getattr(exc, 'text', '') or getattr(exc, 'code', '')}): the host is down, "
            "or the bastion cannot reach it"
        )
    text = str(exc)
    # paramiko's words for a handshake that never came: the banner read timed out, the key
    # exchange failed, or start_client's timeout passed and auth found no session (client.py)
    handshake = ("banner", "negotiation failed", "no existing session")
    if any(word in text.lower() for word in handshake):
        return "no SSH handshake yet", (
            f"{address} accepted the connection on port {port} but no SSH handshake "
            "followed (the host is still booting or overloaded, or something else listens "
            "there)"
        )
    if isinstance(exc, ConnectionResetError | EOFError) or errno.ECONNRESET in codes:
        return "connection closed", (
            f"{address} closed the connection during the SSH handshake (sshd is "
            "restarting, or refuses connections from your address)"
        )
    return type(exc).__name__, (
        f"the SSH connection to {address}:{port} failed during the handshake "
        f"({text.splitlines()[0][:120] if text else type(exc).__name__})"
    )
