"""When the cluster's certificates expire: the date on which an untended cluster stops.

Every agent's TLS is a leaf under the workspace CA (a year by default, `nomad tls`'s default),
and Nomad refuses an expired certificate on both HTTP and RPC, so the earliest expiry is the
day the cluster stops answering. `status` shows these dates and warns inside ``WARN_DAYS``;
`certs --renew` reissues the leaves and the next `up` pushes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from nomadctl.errors import PkiError
from nomadctl.pki import issue

WARN_DAYS = 30


@dataclass(frozen=True)
class Expiry:
    """One certificate: what it is, where it is, and how long it has left."""

    name: str  # "CA", "cli" or a node name
    kind: str  # "ca" | "cli" | "node" | ...
    path: str
    not_after: dt.datetime
    serial: str

    def days_left(self, now: dt.datetime | None = None) -> int:
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).days

    def warning(self, now: dt.datetime | None = None) -> str | None:
        """A one-line warning when this certificate expires within WARN_DAYS (or has)."""
        days = self.days_left(now)
        if days < 0:
            return f"{self.kind} certificate of {self.name} expired on {self.not_after:%Y-%m-%d}"
        if days < WARN_DAYS:
            return (
                f"{self.kind} certificate of {self.name} expires in {days} days "
                f"({self.not_after:%Y-%m-%d}); "
                "renew with `nomadctl certs --renew` and `nomadctl up`"
            )
        return None

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left(now),
            "serial": self.serial,
        }


def read(path: Path, name: str, kind: str) -> Expiry:
    cert = issue.load_cert(path)
    return Expiry(name, kind, str(path), cert.not_valid_after_utc, format(cert.serial_number, "x"))


def collect(certs_dir: Path) -> list[Expiry]:
    """The CA, the CLI certificate and every node certificate under ``certs_dir``, soonest first.

    A file that cannot be read is skipped here (`certs` and `up` report it with its cause).
    """
    found: list[Expiry] = []
    candidates: list[tuple[Path, str, str]] = []
    candidates += [(p, "CA", "ca") for p in sorted((certs_dir / "ca").glob("*-agent-ca.pem"))]
    previous = sorted((certs_dir / "ca").glob("*-agent-ca-previous.pem"))  # during a rotation
    candidates += [(p, "previous CA", "ca") for p in previous]
    candidates += [(p, "cli", "cli") for p in sorted((certs_dir / "cli").glob("*-cli-*.pem"))]
    nodes = sorted((certs_dir / "nodes").glob("*.pem"))
    candidates += [(p, p.stem, "node") for p in nodes if not p.stem.endswith("-key")]
    for path, name, kind in candidates:
        if path.name.endswith("-key.pem"):
            continue
        try:
            found.append(read(path, name, kind))
        except PkiError:
            continue
    return sorted(found, key=lambda e: e.not_after)


def warnings(expiries: list[Expiry], now: dt.datetime | None = None) -> list[str]:
    return [w for e in expiries if (w := e.warning(now))]
