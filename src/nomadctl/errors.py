"""The few error types nomadctl raises on purpose.

Each carries a one-line message for the user and an exit code; cli.py turns them into
`error: <message>` on stderr. Messages must never contain secrets.
"""

from __future__ import annotations


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with every secret replaced by `<redacted>`, also as repr() shows it (a token
    with a CR appears as `...\\r` in an exception about a header)."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, secret.strip(), repr(secret)[1:-1]} - {""}:
            text = text.replace(form, "<redacted>")
    return text


class NomadctlError(Exception):
    """Base class: something the user can act on, reported in one line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # always one line


class UsageError(NomadctlError):
    """Bad flags, config file or names."""

    exit_code = 2


class WorkspaceError(NomadctlError):
    """The cluster's directory is unusable: corrupt state, busy lock, bad permissions."""

    exit_code = 3


class PkiError(NomadctlError):
    """Certificates or keys that are missing, corrupt or do not belong together."""

    exit_code = 4


class CloudError(NomadctlError):
    """The cloud provider refused or failed: credentials, region, permissions, capacity, quotas."""

    exit_code = 5


class RemoteError(NomadctlError):
    """SSH failed: unreachable host, refused key, changed host key, failed command."""

    exit_code = 6


class ClusterApiError(NomadctlError):
    """The Nomad HTTP API is unreachable, refuses us, or the cluster is not ready."""

    exit_code = 7


class Cancelled(NomadctlError):
    """Work stopped because the user interrupted the command (Ctrl-C)."""

    exit_code = 130
