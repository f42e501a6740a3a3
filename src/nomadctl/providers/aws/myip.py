"""The operator's public IP address, for the default `--allow-cidr`.

Asks one "what is my IP" service (`NOMADCTL_MYIP_URL`, default Amazon's checkip) with a short
timeout. When it cannot answer, `up` stops and asks for `--allow-cidr`: nomadctl never falls
back to opening the cluster to the whole internet.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.error
import urllib.parse
import urllib.request

from nomadctl.errors import UsageError

DEFAULT_URL = "https://checkip.amazonaws.com"
ENV_URL = "NOMADCTL_MYIP_URL"
TIMEOUT = 5.0


def detect_url() -> str:
    return os.environ.get(ENV_URL) or DEFAULT_URL


def detect_public_cidr(url: str | None = None, timeout: float = TIMEOUT) -> str:
    """`<ip>/32` (or `/128`) as the service sees this machine."""
    url = url or detect_url()
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise UsageError(f"{ENV_URL} must be an http(s) URL, not {url!r}")
    ask = "pass --allow-cidr CIDR (repeatable) to say who may reach SSH and the Nomad API"
    try:
        # S310: the scheme is checked above to be http or https.
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            text = response.read(256).decode("ascii", errors="replace").strip()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UsageError(f"could not detect your public IP from {url} ({reason}); {ask}") from None
    try:
        address = ipaddress.ip_address(text.split()[0] if text else "")
    except ValueError:
        raise UsageError(
            f"{url} did not answer with an IP address ({text[:40]!r}); {ask}"
        ) from None
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        raise UsageError(f"{url} says your address is {address}, which cannot be right; {ask}")
    return str(ipaddress.ip_network(address))
