"""The few error types nomadctl raises on purpose.

Each carries a one-line message for the user and an exit code; cli/app.py's `main` turns them into
`error: <message>` on stderr. Messages must never contain secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping


class LazyPattern:
    """A regular expression compiled on first use: every command (and `--help`) imports
    errors.py and validate.py, and compiling their patterns up front cost ~2 ms of each start."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def fullmatch(self, value: str) -> re.Match[str] | None:
        return self.compiled().fullmatch(value)

    def match(self, value: str) -> re.Match[str] | None:
        return self.compiled().match(value)

    def search(self, value: str) -> re.Match[str] | None:
        return self.compiled().search(value)

    def sub(self, repl: str, value: str) -> str:
        return self.compiled().sub(repl, value)


# What a secret looks like when we do not know its value: a PEM private key, a Nomad ACL
# Secret ID (a UUID: hashicorp/nomad nomad/acl_endpoint.go UpsertTokens sets
# `token.SecretID = uuid.Generate()`), a gossip key (base64 of 16, 24 or 32 bytes, as
# `nomad operator gossip keyring generate` prints and gossip.key holds).
SECRET_PATTERNS = (
    LazyPattern(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S
    ),
    LazyPattern(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"),
    LazyPattern(r"(?<![A-Za-z0-9+/=])(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{22}==)(?![A-Za-z0-9+/=])"),
)
SECRET_ENV_RE = LazyPattern(r"TOKEN|SECRET|PASSWORD|PASSPHRASE|CREDENTIAL", re.I)


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with every secret replaced by `<redacted>`, also as repr() shows it (a token
    with a CR appears as `...\\r` in an exception about a header)."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, secret.strip(), repr(secret)[1:-1]} - {""}:
            text = text.replace(form, "<redacted>")
    return text


def scrub_unknown(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` (say, an unexpected exception's message) with whatever looks like a secret
    replaced: the values of secret-named environment variables (NOMAD_TOKEN,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN...), private keys, ACL Secret IDs, gossip keys."""
    env = os.environ if env is None else env
    values = sorted(
        (v for k, v in env.items() if SECRET_ENV_RE.search(k) and len(v.strip()) >= 8),
        key=len,
        reverse=True,  # a secret that contains another is replaced whole
    )
    text = scrub(text, *values)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub("<redacted>", text)
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
