"""Cloud auto-join strings (`retry_join = ["provider=aws tag_key=..."]`) read as Nomad does.

Nomad (command/agent/retry_join.go, autoDiscover.Addrs) hands an entry starting with
`provider=` to hashicorp/go-discover, `exec=` to go-netaddrs, and joins anything else as an
address. go-discover (config.go `parse`/`lex`, discover.go `Addrs`, provider/aws) parses
`key=val key=val` with double-quoted, Go-escaped values; a parse error, a missing or unknown
provider fails the entry ("discovering join addresses failed", logged, retried), it is not
fatal at start. For aws, `addr_type` other than private_v4/public_v4/public_v6 falls back to
private_v4 with an INFO line; a missing `region` is looked up in the EC2 instance metadata.

The stand-in parses and checks every entry like that. It has no EC2 API to ask, so a valid
aws entry resolves to no address (the failure Nomad logs when DescribeInstances fails).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

# go-discover's registered providers (discover.go Providers), as vendored by Nomad.
PROVIDERS = frozenset(
    {
        "aliyun", "aws", "azure", "digitalocean", "gce", "k8s", "linode", "mdns", "os",
        "packet", "scaleway", "softlayer", "tencentcloud", "triton", "vsphere",
    }
)  # fmt: skip
AWS_ADDR_TYPES = ("private_v4", "public_v4", "public_v6")


class DiscoverError(ValueError):
    pass


def _unquote(text: str) -> str:
    try:
        value = ast.literal_eval(text)  # Go's strconv.Unquote for "..." is close enough
    except (SyntaxError, ValueError):
        raise DiscoverError("invalid syntax") from None
    if not isinstance(value, str):
        raise DiscoverError("invalid syntax")
    return value


def _lex(s: str) -> tuple[str, str, int]:
    """One token: ("text" | "equal" | "error", value, length consumed) (go-discover lex)."""
    state, i = "start", 0
    for i, r in enumerate(s):
        if state == "start":
            state = {" ": "start", "=": "equal", '"': "qtext"}.get(r, "text")
        elif state == "equal":
            return "equal", "", i
        elif state == "text":
            if r in "= ":
                return "text", s[:i].strip(), i
        elif state == "qtext":
            state = {'"': "qtextend", "\\": "qtextesc"}.get(r, "qtext")
        elif state == "qtextesc":
            state = "qtext"
        elif state == "qtextend":
            try:
                return "text", _unquote(s[:i].strip()), i
            except DiscoverError as exc:
                return "error", str(exc), i
    if state == "equal":
        return "equal", "", len(s)
    if state == "qtext":
        return "error", "unbalanced quotes", len(s)
    if state == "qtextesc":
        return "error", "unterminated escape sequence", len(s)
    if state == "qtextend":
        try:
            return "text", _unquote(s.strip()), len(s)
        except DiscoverError as exc:
            return "error", str(exc), len(s)
    return "text", s.strip(), len(s)


def parse(text: str) -> dict[str, str]:
    """go-discover's Parse: "key=val key=val" -> dict; DiscoverError with its message."""
    out: dict[str, str] = {}
    s, state, key = text.strip(), "key", ""
    while s:
        item, val, n = _lex(s)
        s = s[n:]
        if state == "key":
            if item != "text":
                raise DiscoverError(f"{key}: error with key=value pair {val}")
            key = val
            if key in out:
                raise DiscoverError(f"{key}: duplicate key")
            state = "equal"
        elif state == "equal":
            if item != "equal":
                raise DiscoverError(f"{key}: missing '='")
            state = "val"
        else:
            if item == "error":
                raise DiscoverError(f"{key}: {val}")
            if item != "text":
                raise DiscoverError(f"{key}: missing value")
            out[key] = val
            state = "key"
    if state == "equal":
        raise DiscoverError(f"{key}: missing '='")
    if state == "val":
        raise DiscoverError(f"{key}: missing value")
    return out


def check(entry: str) -> tuple[dict[str, str], list[str]]:
    """(args, INFO lines) for a `provider=` entry; DiscoverError("discover: ...") when
    go-discover refuses it."""
    try:
        args = parse(entry)
    except DiscoverError as exc:
        raise DiscoverError(f"discover: {exc}") from None
    name = args.get("provider", "")
    if not name:
        raise DiscoverError("discover: no provider")
    if name not in PROVIDERS:
        raise DiscoverError(f"discover: unknown provider {name}")
    notes = []
    if name == "aws":
        addr_type = args.get("addr_type", "")
        if addr_type not in AWS_ADDR_TYPES:
            notes.append(
                f"discover-aws: Address type {addr_type} is not supported. Valid values are "
                "{private_v4,public_v4,public_v6}. Falling back to 'private_v4'"
            )
        if not args.get("region"):
            notes.append("discover-aws: Region not provided. Looking up region in metadata...")
    return args, notes


def is_auto_join(entry: str) -> bool:
    """Nomad's test: a `provider=` (go-discover) or `exec=` (go-netaddrs) prefix."""
    return entry.startswith(("provider=", "exec="))


def log_lookup(entry: str, log: Callable[[str, str], None]) -> list[str]:
    """Look `entry` up as Nomad's retry joiner does and log what it would; the addresses found
    (always none here: no cloud API for the stand-in to ask)."""
    if entry.startswith("exec="):
        log("ERROR", f"agent: discovering join addresses failed: join_config={entry!r} "
            "error=\"the stand-in does not run exec= (go-netaddrs) commands\"")  # fmt: skip
        return []
    try:
        args, notes = check(entry)
    except DiscoverError as exc:
        log("ERROR", f"agent: discovering join addresses failed: join_config={entry!r} "
            f'error="{exc}"')  # fmt: skip
        return []
    for note in notes:
        log("INFO", f"agent: {note}")
    shown = " ".join(f"{k}={v}" for k, v in args.items() if k != "provider")
    log("ERROR", f"agent: discovering join addresses failed: join_config={entry!r} "
        f'error="discover-{args["provider"]}: no {args["provider"]} API for the stand-in '
        f'to ask ({shown})"')  # fmt: skip
    return []
