"""Checks for values that reach a remote shell, an HCL file or a local `ssh` command line.

Each check takes the value as the user gave it (flag, NOMADCTL_* variable or nomadctl.toml)
and returns it, possibly normalised, or raises ValueError with a reason that does not repeat
the value (the caller names the option). They run at the edge, before anything is touched;
templates still quote every value where it is used. Pure functions: no I/O, cheap to import.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from nomadctl.errors import UsageError

# hashicorp/go-version VersionRegexpRaw (version.go at 8f84cf4), anchored as NewVersion does;
# Nomad parses its own version (and `+ent` builds) with it. Only digits, letters, '.', '-',
# '~' and '+' can pass: nothing a shell, HCL or a URL would read as syntax.
GO_VERSION_RE = re.compile(
    r"^v?([0-9]+(\.[0-9]+)*?)"
    r"(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?"
    r"(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))??$"
)
# Login names: what useradd's default NAME_REGEX allows plus upper case and '.', never a
# leading '-' (ssh would read it as an option), at most 32 characters (Linux's utmp limit).
USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
HOSTNAME_RE = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", re.IGNORECASE
)
# nomad/structs/node_pool.go validNodePoolName; command/agent/command.go refuses "all" for
# a client's own pool.
NODE_POOL_RE = re.compile(r"^[a-zA-Z0-9-_]{1,128}$")
# Nomad refuses only NUL and '*' in a datacenter (command/agent/command.go IsValidConfig);
# nomadctl is stricter, as the name also lands in HCL, tags and shell lines.
DATACENTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
AWS_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d{1,2}$")  # eu-west-1, us-gov-east-1


def nomad_version(value: str) -> str:
    """A Nomad version as hashicorp/go-version parses it; a leading 'v' is dropped."""
    if not GO_VERSION_RE.fullmatch(value):
        raise ValueError("not a Nomad version such as 1.11.1, 1.10.0-beta.1 or 1.9.3+ent")
    return value.removeprefix("v")


def ssh_user(value: str) -> str:
    if not USER_RE.fullmatch(value):
        raise ValueError(
            "not a login name: 1-32 letters, digits, '_', '.' or '-', not starting with '-'"
        )
    return value


def host(value: str) -> str:
    """An IP address or a DNS name: never something `ssh` could read as an option."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not HOSTNAME_RE.fullmatch(value) or len(value) > 253:
        raise ValueError("not an IP address or DNS name")
    return value


@dataclass(frozen=True)
class Address:
    user: str | None
    host: str
    port: int | None


def endpoint(value: str) -> Address:
    """`[user@]host[:port]`, host an IP address (IPv6 in brackets) or a DNS name."""
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
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise ValueError("port must be a number from 1 to 65535")
    return Address(ssh_user(user) if user else None, host(name), int(port) if port else None)


def bastion(value: str) -> str:
    endpoint(value)
    return value


def datacenter(value: str) -> str:
    if not DATACENTER_RE.fullmatch(value):
        raise ValueError(
            "use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return value


def nomad_region(value: str) -> str:
    """A single DNS label: the region is part of TLS names (server.<region>.nomad) and of
    file names in the workspace."""
    if not DNS_LABEL_RE.fullmatch(value):
        raise ValueError("must be a single DNS label such as 'global'")
    return value


def node_pool(value: str) -> str:
    if not NODE_POOL_RE.fullmatch(value):
        raise ValueError("use 1-128 letters, digits, '-' or '_' (Nomad's rule)")
    if value == "all":
        raise ValueError("a client cannot register in the built-in pool 'all'")
    return value


def local_path(value: str) -> str:
    """A local path: no control characters (they would break lines we print or pass on)."""
    if not value or CONTROL_RE.search(value):
        raise ValueError("a path must be non-empty and free of control characters")
    return value


def ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("not an IP address (Nomad advertises IP addresses)") from None


def token(value: str, where: str) -> str:
    """A Nomad ACL secret from outside: surrounding whitespace (a pasted CR) dropped, and
    it must be a UUID, as Nomad's secrets are. The message never repeats the value."""
    import uuid

    stripped = value.strip()
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
    if "%" in path or '"' in path or CONTROL_RE.search(path):
        raise ValueError(f"path {path!r} holds '%', '\"' or a control character")
    return path
