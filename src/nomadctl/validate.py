"""Checks for values that reach a remote shell, an HCL file or a local `ssh` command line.

Each check takes the value as the user gave it (flag, NOMADCTL_* variable or nomadctl.toml)
and returns it, possibly normalised, or raises ValueError with a reason that does not repeat
the value (the caller names the option). Every check is exact (`fits`): ASCII only (no
look-alike such as 'ſ', 'ı' or the Kelvin sign that a case-insensitive pattern would take
for 's', 'i' or 'k'), the whole string (`fullmatch`: no trailing newline, which `$` lets
through) and bounded in length before any pattern runs. Local paths are the one exception to
ASCII (a home directory may be /home/müller), never to control characters. They run at the
edge, before anything is touched; templates still quote every value where it is used. Pure
functions: no I/O, cheap to import.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from nomadctl.errors import LazyPattern, UsageError

# hashicorp/go-version VersionRegexpRaw (version.go at 8f84cf4), anchored as NewVersion does;
# Nomad parses its own version (and `+ent` builds) with it. Only digits, letters, '.', '-',
# '~' and '+' can pass: nothing a shell, HCL or a URL would read as syntax.
GO_VERSION_RE = LazyPattern(
    r"^v?([0-9]+(\.[0-9]+)*?)"
    r"(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?"
    r"(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))??$",
    re.ASCII,
)
# Login names: what useradd's default NAME_REGEX allows plus upper case and '.', never a
# leading '-' (ssh would read it as an option), at most 32 characters (Linux's utmp limit).
USER_RE = LazyPattern(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$", re.ASCII)
DNS_LABEL_RE = LazyPattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE | re.ASCII)
HOSTNAME_RE = LazyPattern(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    re.IGNORECASE | re.ASCII,
)
# nomad/structs/node_pool.go validNodePoolName; command/agent/command.go refuses "all" for
# a client's own pool.
NODE_POOL_RE = LazyPattern(r"^[a-zA-Z0-9-_]{1,128}$", re.ASCII)
# Nomad refuses only NUL and '*' in a datacenter (command/agent/command.go IsValidConfig);
# nomadctl is stricter, as the name also lands in HCL, tags and shell lines.
DATACENTER_RE = LazyPattern(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", re.ASCII)
CONTROL_RE = LazyPattern(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
PORT_RE = LazyPattern(r"[0-9]{1,5}", re.ASCII)
IP_CHARS_RE = LazyPattern(r"[0-9A-Fa-f.:]+", re.ASCII)  # digits, hex, '.' and ':', no zone
UUID_RE = LazyPattern(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", re.ASCII)
AWS_REGION_RE = LazyPattern(r"^[a-z]{2}(-[a-z0-9]+)+-\d{1,2}$", re.ASCII)  # eu-west-1
MAX_LEN = 1024  # longer than any value below may be; checked before a pattern runs
MAX_PATH = 4096  # PATH_MAX


def fits(pattern: re.Pattern[str] | LazyPattern, value: object, max_len: int = MAX_LEN) -> bool:
    """`value` is a str of ASCII, at most `max_len` long, and `pattern` matches all of it."""
    return (
        isinstance(value, str)
        and len(value) <= max_len
        and value.isascii()
        and pattern.fullmatch(value) is not None
    )


def nomad_version(value: str) -> str:
    """A Nomad version as hashicorp/go-version parses it; a leading 'v' is dropped."""
    if not fits(GO_VERSION_RE, value, 128):
        raise ValueError("not a Nomad version such as 1.11.1, 1.10.0-beta.1 or 1.9.3+ent")
    return value.removeprefix("v")


def ssh_user(value: str) -> str:
    if not fits(USER_RE, value):
        raise ValueError(
            "not a login name: 1-32 letters, digits, '_', '.' or '-', not starting with '-'"
        )
    return value


def host(value: str) -> str:
    """An IP address or a DNS name: never something `ssh` could read as an option."""
    try:
        return ip_address(value)
    except ValueError:
        pass
    if not fits(HOSTNAME_RE, value, 253):
        raise ValueError("not an IP address or DNS name")
    return value


@dataclass(frozen=True)
class Address:
    user: str | None
    host: str
    port: int | None


def endpoint(value: str) -> Address:
    """`[user@]host[:port]`, host an IP address (IPv6 in brackets) or a DNS name."""
    if not (isinstance(value, str) and value.isascii() and len(value) <= MAX_LEN):
        raise ValueError("use [user@]host[:port] in ASCII")
    user, at, rest = value.rpartition("@")
    if at and not user:
        raise ValueError("empty user before '@'")
    if rest.startswith("["):
        inner, _, tail = rest[1:].partition("]")
        if tail and not tail.startswith(":"):
            raise ValueError("use user@[IPv6]:port")
        name, port = inner, tail[1:] if tail else ""
    else:
        name, _, port = rest.partition(":")
    if port and (not fits(PORT_RE, port) or not 1 <= int(port) <= 65535):
        raise ValueError("port must be a number from 1 to 65535")
    return Address(ssh_user(user) if user else None, host(name), int(port) if port else None)


def bastion(value: str) -> str:
    endpoint(value)
    return value


def datacenter(value: str) -> str:
    if not fits(DATACENTER_RE, value):
        raise ValueError(
            "use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return value


def nomad_region(value: str) -> str:
    """A single DNS label: the region is part of TLS names (server.<region>.nomad) and of
    file names in the workspace."""
    if not fits(DNS_LABEL_RE, value):
        raise ValueError("must be a single DNS label such as 'global'")
    return value


def node_pool(value: str) -> str:
    if not fits(NODE_POOL_RE, value):
        raise ValueError("use 1-128 letters, digits, '-' or '_' (Nomad's rule)")
    if value == "all":
        raise ValueError("a client cannot register in the built-in pool 'all'")
    return value


def local_path(value: str) -> str:
    """A local path: no control, format or line-separator characters (they would break lines
    we print or pass on), at most PATH_MAX long. Printable non-ASCII is a user's own."""
    if not isinstance(value, str) or not value or len(value) > MAX_PATH or CONTROL_RE.search(value):
        raise ValueError("a path must be non-empty and free of control characters")
    return value


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address in ASCII, without an IPv6 zone (`%eth0`: Python accepts any
    text there, Nomad advertises plain addresses)."""
    try:
        if not fits(IP_CHARS_RE, value, 64):
            raise ValueError
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("not an IP address (Nomad advertises IP addresses)") from None


def token(value: str, where: str) -> str:
    """A Nomad ACL secret from outside: surrounding whitespace (a pasted CR) dropped, and
    it must be a UUID, as Nomad's secrets are. The message never repeats the value."""
    import uuid

    stripped = value.strip()
    if not fits(UUID_RE, stripped, 36):
        raise UsageError(f"{where} is not a Nomad ACL token (a UUID); check it")
    try:
        parsed = uuid.UUID(stripped)
    except ValueError:
        raise UsageError(f"{where} is not a Nomad ACL token (a UUID); check it") from None
    if str(parsed) != stripped.lower():
        raise UsageError(f"{where} is not a Nomad ACL token (a UUID); check it")
    return stripped


def api_address(value: str) -> str:
    """One NOMAD_ADDR entry: http(s)://host[:port], no user:password (it would be sent as
    basic auth and shown in messages), no path."""
    from urllib.parse import urlsplit

    url = value.strip().rstrip("/")
    if not url.isascii() or len(url) > MAX_LEN:
        raise UsageError("NOMAD_ADDR must be http(s)://HOST[:PORT] (comma-separated for several)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
        or CONTROL_RE.search(url)
    ):
        raise UsageError("NOMAD_ADDR must be http(s)://HOST[:PORT] (comma-separated for several)")
    return url


# Option name (as Click names the parameter) -> check, for every command that has it.
CHECKS = {
    "nomad_version": nomad_version,
    "ssh_user": ssh_user,
    "bastion": bastion,
    "datacenter": datacenter,
    "nomad_region": nomad_region,
    "node_pool": node_pool,
    "server": ip_address,
    "client": ip_address,
    "home": local_path,
    "config": local_path,
    "ssh_key": local_path,
    "nomad_binary": local_path,
    "license_file": local_path,
}


def ssh_config_path(path: str) -> str:
    """A path for OpenSSH's command line, refused if it holds '%' (ssh expands %-tokens in
    IdentityFile, UserKnownHostsFile and ProxyCommand, twice through a ProxyCommand), '"'
    (`-o` values are split like config lines, so paths go in double quotes) or a control
    character."""
    if "%" in path or '"' in path or CONTROL_RE.search(path) or len(path) > MAX_PATH:
        raise ValueError(f"path {path!r} holds '%', '\"' or a control character")
    return path
