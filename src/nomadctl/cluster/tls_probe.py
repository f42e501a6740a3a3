"""Look at a Nomad agent's TLS from outside, as a peer would: which certificate it shows,
and whether it accepts a client certificate. How a reload (SIGHUP) is seen, since the signal
itself gives no answer (used by nomadctl.node.confirm and the day-2 tests)."""

from __future__ import annotations

import threading
from typing import Any

from nomadctl.cluster.operations import Progress, poll
from nomadctl.errors import ClusterApiError


def served_serial(
    host: str,
    port: int,
    *,
    ca_file: str,
    client_cert: tuple[str, str] | None,
    server_name: str,
    timeout: float = 5.0,
) -> int:
    """The serial number of the certificate that a new TLS connection is shown (verified
    against `ca_file` and `server_name`): how a reload is seen from outside."""
    import socket
    import ssl

    from cryptography import x509

    ctx = ssl.create_default_context(cafile=ca_file)
    if client_cert:
        ctx.load_cert_chain(*client_cert)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise ClusterApiError(f"TLS connection to {host}:{port} failed: {exc}") from None
    if der is None:
        raise ClusterApiError(f"TLS connection to {host}:{port}: no certificate shown")
    return x509.load_der_x509_certificate(der).serial_number


def wait_serving(
    serial: int,
    within: float,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    **target: Any,
) -> None:
    """Wait until `served_serial(**target)` is `serial` (after reload_agent); `within` is the
    whole wait, `target["timeout"]` one connection's."""

    def check() -> tuple[Any, str]:
        got = served_serial(**target)
        return (True, "done") if got == serial else (None, f"still serving serial {got:x}")

    poll(
        check,
        within,
        f"waiting for {target['host']} to serve the new certificate",
        progress,
        cancel,
    )


def client_refused(
    host: str,
    port: int,
    *,
    ca_file: str,
    client_cert: tuple[str, str],
    server_name: str,
    timeout: float = 5.0,
) -> str | None:
    """None when the agent at host:port accepts `client_cert` (an HTTP answer of any status
    to a request made with it), else why not, in a few words. The agent checks client
    certificates (verify_https_client) against the `ca_file` it has loaded, so a client
    certificate of a new CA is accepted once a reload gave it a `ca_file` holding that CA."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.load_cert_chain(*client_cert)
    request = f"GET /v1/agent/health HTTP/1.0\r\nHost: {server_name}\r\n\r\n".encode()
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            tls.sendall(request)
            if tls.recv(5) == b"HTTP/":  # TLS 1.3: a refused certificate shows here
                return None
            return "it closed the connection: it refuses the new CA's client certificate"
    except ssl.SSLCertVerificationError as exc:  # the agent's own certificate: not what we ask
        raise ClusterApiError(f"TLS connection to {host}:{port} failed: {exc}") from None
    except TimeoutError:
        return f"no answer within {timeout:.0f}s"
    except ssl.SSLError as exc:
        return f"it refuses the new CA's client certificate ({exc.reason or exc})"
    except OSError as exc:
        return f"cannot connect: {exc.strerror or exc}"


def wait_trusting(
    within: float,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    **target: Any,
) -> None:
    """Wait until the agent accepts a client certificate of the new CA (`client_refused`,
    after reload_agent gave it a `ca_file` holding that CA); `within` is the whole wait,
    `target["timeout"]` one connection's."""

    def check() -> tuple[Any, str]:
        why = client_refused(**target)
        return (True, "done") if why is None else (None, why)

    poll(check, within, f"waiting for {target['host']} to trust the new CA", progress, cancel)
