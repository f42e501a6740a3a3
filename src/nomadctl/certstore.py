"""The cluster's certificates on disk: the seed's layout with Nomad's file names.

```
certificates/ca/<domain>-agent-ca.pem            + -key.pem
certificates/servers/<region>-server-<domain>.pem + -key.pem
certificates/clients/<region>-client-<domain>.pem + -key.pem
certificates/cli/<region>-cli-<domain>.pem        + -key.pem
gossip.key
```

`ensure()` makes what is missing and keeps what exists: a leaf is re-issued only when asked
(`force`), the CA is never replaced unless `rotate_ca` is given (the old one is moved aside,
not deleted), and every kept file is checked (key matches cert, leaf chains to the CA).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nomadctl import pki
from nomadctl.errors import PkiError
from nomadctl.workspace import Workspace, check_secret, ensure_private_dir

KIND_DIRS: dict[pki.Kind, str] = {"server": "servers", "client": "clients", "cli": "cli"}


@dataclass(frozen=True)
class CertOptions:
    region: str = "global"
    domain: str = "nomad"
    days: int = pki.LEAF_DAYS
    ca_days: int = pki.CA_DAYS
    dns_names: Sequence[str] = ()
    ip_addresses: Sequence[pki.IPAddress] = ()
    name_constraint: bool = False
    additional_domains: Sequence[str] = ()
    force: bool = False
    rotate_ca: bool = False


@dataclass
class FileRecord:
    """One row of `nomadctl certs` output."""

    kind: str
    status: str  # created | kept | reissued | rotated
    path: str
    key_path: str | None = None
    expires: str | None = None
    serial: str | None = None
    names: list[str] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Paths:
    cert: Path
    key: Path


def ca_paths(ws: Workspace, domain: str = "nomad") -> Paths:
    base = ws.certs_dir / "ca"
    return Paths(base / f"{domain}-agent-ca.pem", base / f"{domain}-agent-ca-key.pem")


def leaf_paths(
    ws: Workspace, kind: pki.Kind, region: str = "global", domain: str = "nomad"
) -> Paths:
    base = ws.certs_dir / KIND_DIRS[kind]
    stem = f"{region}-{kind}-{domain}"
    return Paths(base / f"{stem}.pem", base / f"{stem}-key.pem")


def _write_pair(ws: Workspace, paths: Paths, pair: pki.KeyPair) -> None:
    # Key first: a cert without its key is useless, a key without its cert is re-made.
    ws.write_secret(paths.key, pki.key_pem(pair.key))
    ws.write_public(paths.cert, pki.cert_pem(pair.cert))


def _load_pair(paths: Paths) -> pki.KeyPair:
    """A certificate and its key; the key refused if its mode lets others read it."""
    check_secret(paths.key)
    return pki.load_pair(paths.cert, paths.key)


def _expires(cert: pki.x509.Certificate) -> str:
    return cert.not_valid_after_utc.isoformat().replace("+00:00", "Z")


def _record(kind: str, status: str, paths: Paths, cert: pki.x509.Certificate) -> FileRecord:
    dns, ips = pki.san_names(cert)
    return FileRecord(
        kind=kind,
        status=status,
        path=str(paths.cert),
        key_path=str(paths.key),
        expires=_expires(cert),
        serial=format(cert.serial_number, "x"),
        names=[*dns, *ips],
    )


def _move_aside(paths: Paths) -> None:
    """Keep a replaced CA in `ca/replaced-<UTC time>/`: rotating must not destroy the old one."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = ensure_private_dir(paths.cert.parent / f"replaced-{stamp}")
    for path in (paths.cert, paths.key):
        if path.exists():
            os.replace(path, dest / path.name)


def load_ca(ws: Workspace, domain: str = "nomad") -> pki.KeyPair:
    paths = ca_paths(ws, domain)
    if not paths.cert.exists() or not paths.key.exists():
        raise PkiError(f"no CA in {paths.cert.parent}; run `nomadctl certs` first")
    return _load_pair(paths)


def ensure_ca(ws: Workspace, opts: CertOptions) -> tuple[pki.KeyPair, FileRecord, bool]:
    """The CA, made or loaded. Returns (pair, record, whether it is new)."""
    paths = ca_paths(ws, opts.domain)
    have_cert, have_key = paths.cert.exists(), paths.key.exists()
    if (have_cert or have_key) and not opts.rotate_ca:
        if not have_key:
            raise PkiError(
                f"CA certificate {paths.cert} exists but its key {paths.key} is missing; "
                "restore the key, or pass --rotate-ca to make a new CA"
            )
        if not have_cert:
            raise PkiError(
                f"CA key {paths.key} exists but its certificate {paths.cert} is missing; "
                "restore the certificate, or pass --rotate-ca to make a new CA"
            )
        ca = _load_pair(paths)
        return ca, _record("ca", "kept", paths, ca.cert), False
    status = "rotated" if (have_cert or have_key) else "created"
    if status == "rotated":
        _move_aside(paths)
    ca = pki.new_ca(
        days=opts.ca_days,
        domain=opts.domain,
        name_constraint=opts.name_constraint,
        additional_domains=opts.additional_domains,
        organizational_unit=ws.cluster,
    )
    _write_pair(ws, paths, ca)
    return ca, _record("ca", status, paths, ca.cert), True


def ensure_leaf(
    ws: Workspace, ca: pki.KeyPair, kind: pki.Kind, opts: CertOptions, ca_is_new: bool
) -> FileRecord:
    paths = leaf_paths(ws, kind, opts.region, opts.domain)
    exists = paths.cert.exists() or paths.key.exists()
    _, want_dns, want_ips = pki.leaf_names(
        kind, opts.region, opts.domain, opts.dns_names, opts.ip_addresses
    )
    if exists and not opts.force and not ca_is_new:
        if not (paths.cert.exists() and paths.key.exists()):
            raise PkiError(
                f"{paths.cert.name} or its key is missing in {paths.cert.parent}; "
                f"pass --force to re-issue the {kind} certificate"
            )
        pair = _load_pair(paths)
        if not pki.signed_by(ca.cert, pair.cert):
            raise PkiError(
                f"{paths.cert} was not signed by the cluster CA; "
                f"pass --force to re-issue the {kind} certificate"
            )
        rec = _record(kind, "kept", paths, pair.cert)
        if sorted(rec.names) != sorted([*want_dns, *map(str, want_ips)]):
            rec.note = "names differ from the options given; --force re-issues it"
        if pair.cert.not_valid_after_utc <= dt.datetime.now(dt.UTC):
            rec.note = "expired; --force re-issues it"
        return rec
    pair = pki.new_leaf(
        ca,
        kind,
        region=opts.region,
        domain=opts.domain,
        days=opts.days,
        dns_names=opts.dns_names,
        ip_addresses=opts.ip_addresses,
    )
    _write_pair(ws, paths, pair)
    return _record(kind, "reissued" if exists else "created", paths, pair.cert)


def ensure_gossip_key(ws: Workspace) -> tuple[str, FileRecord]:
    path = ws.gossip_key_path
    if path.exists():
        key = pki.check_gossip_key(ws.read_secret(path).decode(errors="replace"), str(path))
        return key, FileRecord(kind="gossip", status="kept", path=str(path))
    key = pki.new_gossip_key()
    ws.write_secret(path, key.encode() + b"\n")
    return key, FileRecord(kind="gossip", status="created", path=str(path))


def read_gossip_key(ws: Workspace) -> str:
    if not ws.gossip_key_path.exists():
        raise PkiError(f"no gossip key at {ws.gossip_key_path}; run `nomadctl certs` first")
    path = ws.gossip_key_path
    return pki.check_gossip_key(ws.read_secret(path).decode(errors="replace"), str(path))


def ensure(ws: Workspace, opts: CertOptions) -> list[FileRecord]:
    """Make the CA, the server/client/cli certificates and the gossip key; keep what exists."""
    ws.create()
    ca, ca_rec, ca_is_new = ensure_ca(ws, opts)
    records = [ca_rec]
    records += [ensure_leaf(ws, ca, kind, opts, ca_is_new) for kind in pki.KINDS]
    records.append(ensure_gossip_key(ws)[1])
    return records


def node_paths(ws: Workspace, node_name: str) -> Paths:
    base = ws.certs_dir / "nodes"
    return Paths(base / f"{node_name}.pem", base / f"{node_name}-key.pem")


RENEW_BEFORE = dt.timedelta(days=30)


def ensure_node_cert(
    ws: Workspace,
    ca: pki.KeyPair,
    *,
    name: str,
    kind: pki.Kind,
    region: str,
    addresses: Sequence[str],
    days: int = pki.LEAF_DAYS,
) -> pki.KeyPair:
    """A node's own certificate: `<kind>.<region>.nomad`, localhost, 127.0.0.1 and its IPs.

    Kept while it is signed by the current CA, names the same addresses and has more than 30
    days left, so a re-run uploads nothing; re-issued otherwise.
    """
    paths = node_paths(ws, name)
    ips = pki.parse_ip_addresses([a for a in addresses if a])
    _, want_dns, want_ips = pki.leaf_names(kind, region, "nomad", (), ips)
    if paths.cert.exists() and paths.key.exists():
        try:
            pair = _load_pair(paths)
        except PkiError:
            pair = None
        if (
            pair is not None
            and pki.signed_by(ca.cert, pair.cert)
            and pki.san_names(pair.cert) == (want_dns, [str(ip) for ip in want_ips])
            and pair.cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE
        ):
            return pair
    pair = pki.new_leaf(ca, kind, region=region, days=days, ip_addresses=ips)
    _write_pair(ws, paths, pair)
    return pair
