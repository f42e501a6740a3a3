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

Day 2 (issue 18): `renew()` gives the cli and every node certificate a new key and serial
under the same CA, with the same names. A CA rotation has two steps, so agents never stop
trusting each other: `ensure(rotate_ca=True)` makes a new CA and keeps the old certificate as
`ca/<domain>-agent-ca-previous.pem`; while it exists `trust_file()` is a bundle (new + old)
that agents get as `ca_file` and the CLI verifies with, node certificates are re-issued under
the new CA by the next `up`, and the cli certificate stays the old CA's (agents that still
have the old `ca_file` accept it). That `up` runs in two passes (`nomadctl.plan.ca_rotation`): the
bundle first while every node keeps its old leaf (`ensure_node_cert(keep_previous=True)`), and
only once every node has it the new leaves (`previous_leaves` names the nodes still to do).
`finish_rotation()` then re-issues the cli certificate under the new CA and drops the old CA
from the trust file; the next `up` pushes the new CA alone.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nomadctl import trust
from nomadctl.errors import PkiError
from nomadctl.pki import issue
from nomadctl.workspace import Workspace, check_secret, ensure_private_dir

KIND_DIRS: dict[issue.Kind, str] = {"server": "servers", "client": "clients", "cli": "cli"}


@dataclass(frozen=True)
class CertOptions:
    region: str = "global"
    domain: str = "nomad"
    days: int = issue.LEAF_DAYS
    ca_days: int = issue.CA_DAYS
    dns_names: Sequence[str] = ()
    ip_addresses: Sequence[issue.IPAddress] = ()
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
    ws: Workspace, kind: issue.Kind, region: str = "global", domain: str = "nomad"
) -> Paths:
    base = ws.certs_dir / KIND_DIRS[kind]
    stem = f"{region}-{kind}-{domain}"
    return Paths(base / f"{stem}.pem", base / f"{stem}-key.pem")


def _write_pair(ws: Workspace, paths: Paths, pair: issue.KeyPair) -> None:
    # Key first: a cert without its key is useless, a key without its cert is re-made.
    ws.write_secret(paths.key, issue.key_pem(pair.key))
    ws.write_public(paths.cert, issue.cert_pem(pair.cert))


def _load_pair(paths: Paths) -> issue.KeyPair:
    """A certificate and its key; the key refused if its mode lets others read it."""
    check_secret(paths.key)
    return issue.load_pair(paths.cert, paths.key)


def _expires(cert: issue.x509.Certificate) -> str:
    return cert.not_valid_after_utc.isoformat().replace("+00:00", "Z")


def _record(kind: str, status: str, paths: Paths, cert: issue.x509.Certificate) -> FileRecord:
    dns, ips = issue.san_names(cert)
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


def previous_ca_path(ws: Workspace, domain: str = "nomad") -> Path:
    """The old CA's certificate while a rotation is under way (its key stays in replaced-*/)."""
    return ws.certs_dir / "ca" / f"{domain}-agent-ca-previous.pem"


def bundle_path(ws: Workspace, domain: str = "nomad") -> Path:
    return ws.certs_dir / "ca" / f"{domain}-agent-ca-bundle.pem"


def rotating(ws: Workspace, domain: str = "nomad") -> bool:
    return previous_ca_path(ws, domain).exists()


def trust_file(ws: Workspace, domain: str = "nomad") -> Path:
    """What agents and the CLI verify certificates with: the CA, or during a rotation the
    bundle of the new and the old CA (Nomad's ca_file may hold several: tlsutil reads it with
    x509.CertPool.AppendCertsFromPEM, helper/tlsutil/config.go)."""
    bundle = bundle_path(ws, domain)
    return bundle if rotating(ws, domain) and bundle.exists() else ca_paths(ws, domain).cert


def trust_pem(ws: Workspace, domain: str = "nomad") -> bytes:
    path = trust_file(ws, domain)
    try:
        return trust.read_file(path, ws.home)
    except OSError as exc:
        raise PkiError(f"cannot read CA certificate {path}: {exc.strerror}") from None


def _previous_ca(ws: Workspace, domain: str) -> issue.x509.Certificate | None:
    path = previous_ca_path(ws, domain)
    return issue.load_cert(path) if path.exists() else None


def load_ca(ws: Workspace, domain: str = "nomad") -> issue.KeyPair:
    paths = ca_paths(ws, domain)
    if not paths.cert.exists() or not paths.key.exists():
        raise PkiError(f"no CA in {paths.cert.parent}; run `nomadctl certs` first")
    return _load_pair(paths)


def ensure_ca(ws: Workspace, opts: CertOptions) -> tuple[issue.KeyPair, FileRecord, bool]:
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
    old_pem = trust.read_file(paths.cert, ws.home) if have_cert else None
    if status == "rotated":
        if rotating(ws, opts.domain):
            raise PkiError(
                "a CA rotation is under way: run `nomadctl up`, then "
                "`nomadctl certs --rotate-ca --finish` before rotating again"
            )
        _move_aside(paths)
    ca = issue.new_ca(
        days=opts.ca_days,
        domain=opts.domain,
        name_constraint=opts.name_constraint,
        additional_domains=opts.additional_domains,
        organizational_unit=ws.cluster,
    )
    _write_pair(ws, paths, ca)
    if old_pem is not None:
        # Agents must trust old and new until every leaf is the new CA's.
        ws.write_public(bundle_path(ws, opts.domain), issue.cert_pem(ca.cert) + old_pem)
        ws.write_public(previous_ca_path(ws, opts.domain), old_pem)
    return ca, _record("ca", status, paths, ca.cert), True


def ensure_leaf(
    ws: Workspace,
    ca: issue.KeyPair,
    kind: issue.Kind,
    opts: CertOptions,
    ca_is_new: bool,
    previous: issue.x509.Certificate | None = None,
) -> FileRecord:
    """One server/client/cli certificate; `previous`: the old CA during a rotation, whose
    cli certificate is kept (and accepted) until `finish_rotation`."""
    paths = leaf_paths(ws, kind, opts.region, opts.domain)
    exists = paths.cert.exists() or paths.key.exists()
    if kind == "cli" and previous is not None and not opts.force:
        ca_is_new = False
    _, want_dns, want_ips = issue.leaf_names(
        kind, opts.region, opts.domain, opts.dns_names, opts.ip_addresses
    )
    if exists and not opts.force and not ca_is_new:
        if not (paths.cert.exists() and paths.key.exists()):
            raise PkiError(
                f"{paths.cert.name} or its key is missing in {paths.cert.parent}; "
                f"pass --force to re-issue the {kind} certificate"
            )
        pair = _load_pair(paths)
        old_ca = previous is not None and issue.signed_by(previous, pair.cert)
        if not issue.signed_by(ca.cert, pair.cert) and not old_ca:
            raise PkiError(
                f"{paths.cert} was not signed by the cluster CA; "
                f"pass --force to re-issue the {kind} certificate"
            )
        rec = _record(kind, "kept", paths, pair.cert)
        if sorted(rec.names) != sorted([*want_dns, *map(str, want_ips)]):
            rec.note = "names differ from the options given; --force re-issues it"
        if pair.cert.not_valid_after_utc <= dt.datetime.now(dt.UTC):
            rec.note = "expired; --force re-issues it"
        elif old_ca and not issue.signed_by(ca.cert, pair.cert):
            rec.note = "the previous CA's until `certs --rotate-ca --finish`"
        return rec
    pair = issue.new_leaf(
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
        key = issue.check_gossip_key(ws.read_secret(path).decode(errors="replace"), str(path))
        return key, FileRecord(kind="gossip", status="kept", path=str(path))
    key = issue.new_gossip_key()
    ws.write_secret(path, key.encode() + b"\n")
    return key, FileRecord(kind="gossip", status="created", path=str(path))


def read_gossip_key(ws: Workspace) -> str:
    if not ws.gossip_key_path.exists():
        raise PkiError(f"no gossip key at {ws.gossip_key_path}; run `nomadctl certs` first")
    path = ws.gossip_key_path
    return issue.check_gossip_key(ws.read_secret(path).decode(errors="replace"), str(path))


def ensure(ws: Workspace, opts: CertOptions) -> list[FileRecord]:
    """Make the CA, the server/client/cli certificates and the gossip key; keep what exists."""
    ws.create()
    ca, ca_rec, ca_is_new = ensure_ca(ws, opts)
    previous = _previous_ca(ws, opts.domain)
    records = [ca_rec]
    records += [ensure_leaf(ws, ca, kind, opts, ca_is_new, previous) for kind in issue.KINDS]
    records.append(ensure_gossip_key(ws)[1])
    return records


def node_paths(ws: Workspace, node_name: str) -> Paths:
    base = ws.certs_dir / "nodes"
    return Paths(base / f"{node_name}.pem", base / f"{node_name}-key.pem")


RENEW_BEFORE = dt.timedelta(days=30)


def ensure_node_cert(
    ws: Workspace,
    ca: issue.KeyPair,
    *,
    name: str,
    kind: issue.Kind,
    region: str,
    addresses: Sequence[str],
    days: int = issue.LEAF_DAYS,
    keep_previous: bool = False,
) -> issue.KeyPair:
    """A node's own certificate: `<kind>.<region>.nomad`, localhost, 127.0.0.1 and its IPs;
    a server's also the DNS name of the cluster's API endpoint (state.json `api_endpoint`,
    the AWS load balancer), so the nomad CLI and browsers verify that name.

    Kept while it is signed by the current CA, names the same addresses and has more than 30
    days left, so a re-run uploads nothing; re-issued otherwise. `keep_previous`: during a CA
    rotation a leaf of the previous CA is kept too (pass 1: the node goes on presenting what
    its peers trust until every one of them has the bundle); a node without one gets a leaf
    of the new CA.
    """
    paths = node_paths(ws, name)
    ips = issue.parse_ip_addresses([a for a in addresses if a])
    names = endpoint_names(ws) if kind == "server" else []
    _, want_dns, want_ips = issue.leaf_names(kind, region, "nomad", names, ips)
    signers = [ca.cert]
    previous = _previous_ca(ws, "nomad") if keep_previous else None
    if previous is not None:
        signers.append(previous)
    if paths.cert.exists() and paths.key.exists():
        try:
            pair = _load_pair(paths)
        except PkiError:
            pair = None
        if (
            pair is not None
            and any(issue.signed_by(signer, pair.cert) for signer in signers)
            and issue.san_names(pair.cert) == (want_dns, [str(ip) for ip in want_ips])
            and pair.cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE
        ):
            return pair
    pair = issue.new_leaf(ca, kind, region=region, days=days, dns_names=names, ip_addresses=ips)
    _write_pair(ws, paths, pair)
    return pair


def endpoint_names(ws: Workspace) -> list[str]:
    """The DNS name of the cluster's API endpoint, as the provider recorded it."""
    if not ws.state_path.exists():
        return []
    endpoint = ws.load_state().get("api_endpoint") or {}
    name = endpoint.get("dns_name") if isinstance(endpoint, dict) else None
    return issue.parse_dns_names([name], "API endpoint") if isinstance(name, str) else []


def previous_leaves(ws: Workspace, names: Sequence[str]) -> list[str]:
    """The named nodes whose certificate in the workspace is still the previous CA's: while
    any is left, `up` configures in two passes. Empty when no rotation is under way (or every
    node already has a leaf of the new CA, or none yet)."""
    previous = _previous_ca(ws, "nomad")
    if previous is None:
        return []
    left = []
    for name in names:
        path = node_paths(ws, name).cert
        try:
            cert = issue.load_cert(path) if path.exists() else None
        except PkiError:
            cert = None  # unreadable: re-issued under the new CA anyway
        if cert is not None and issue.signed_by(previous, cert):
            left.append(name)
    return left


# ---- day 2: renewal and the end of a CA rotation ---------------------------------------------


def _renew(ws: Workspace, ca: issue.KeyPair, kind: str, paths: Paths, days: int) -> FileRecord:
    old = issue.load_cert(paths.cert)
    pair = issue.renew_leaf(ca, old, days=days)
    _write_pair(ws, paths, pair)
    rec = _record(kind, "renewed", paths, pair.cert)
    rec.note = f"was serial {old.serial_number:x}"
    return rec


def _node_cert_files(ws: Workspace) -> list[Path]:
    found = sorted((ws.certs_dir / "nodes").glob("*.pem"))
    return [p for p in found if not p.name.endswith("-key.pem")]


def renew(ws: Workspace, opts: CertOptions) -> list[FileRecord]:
    """New keys and serials, same names, same CA: the cli, server and client certificates
    and every node's. The next `up` uploads the node files and reloads the agents (SIGHUP)."""
    if rotating(ws, opts.domain):
        raise PkiError(
            "a CA rotation is under way: finish it (`nomadctl up`, then "
            "`nomadctl certs --rotate-ca --finish`), which issues new certificates anyway"
        )
    ca = load_ca(ws, opts.domain)
    records = []
    for kind in issue.KINDS:
        paths = leaf_paths(ws, kind, opts.region, opts.domain)
        if paths.cert.exists():
            records.append(_renew(ws, ca, kind, paths, opts.days))
    for path in _node_cert_files(ws):
        records.append(_renew(ws, ca, "node", node_paths(ws, path.stem), opts.days))
    return records


def finish_rotation(ws: Workspace, opts: CertOptions) -> list[FileRecord]:
    """Step 2 of a CA rotation: the cli certificate under the new CA, the old CA out of the
    trust file. Refused until an `up` has given every node a certificate of the new CA."""
    if not rotating(ws, opts.domain):
        raise PkiError("no CA rotation is under way; `nomadctl certs --rotate-ca` starts one")
    ca = load_ca(ws, opts.domain)
    configured = ws.load_state().get("configured") or {} if ws.state_path.exists() else {}
    failed = sorted(name for name, ok in configured.items() if not ok)
    stale = [
        p.stem
        for p in _node_cert_files(ws)
        if (not configured or p.stem in configured)
        and not issue.signed_by(ca.cert, issue.load_cert(p))
    ]
    if failed or stale:
        raise PkiError(
            f"{', '.join(failed or stale)} still use(s) the previous CA's certificate; "
            "run `nomadctl up` until every node is configured, then finish the rotation"
        )
    records = []
    cli = leaf_paths(ws, "cli", opts.region, opts.domain)
    if cli.cert.exists():
        records.append(_renew(ws, ca, "cli", cli, opts.days))
        records[-1].status = "reissued"
    previous = previous_ca_path(ws, opts.domain)
    for path in (bundle_path(ws, opts.domain), previous):
        if trust.check_file(path, ws.home):
            path.unlink()
    records.append(
        FileRecord(
            kind="ca",
            status="finished",
            path=str(ca_paths(ws, opts.domain).cert),
            note="the previous CA is no longer trusted (kept in ca/replaced-*/)",
        )
    )
    return records
