"""Certificates and keys, made exactly as `nomad tls ca create` / `nomad tls cert create` do.

See nomad-facts sections 1-3: ECDSA P-256 keys in `EC PRIVATE KEY` PEM, random 128-bit
serials, no backdating, CA valid 1825 days and leaves 365, SKID = SHA-256 of the
SubjectPublicKeyInfo, AKID = the CA's SKID, per-kind CN, SANs and extended key usages.
Only the CA subject differs: it does not claim to be HashiCorp.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from nomadctl import trust, validate
from nomadctl.errors import PkiError, UsageError

Kind = Literal["server", "client", "cli"]
KINDS: tuple[Kind, ...] = ("server", "client", "cli")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")

CA_DAYS = 1825
LEAF_DAYS = 365
DNS_NAME_RE = re.compile(
    r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class KeyPair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


# ---- input validation -------------------------------------------------------------------


def parse_dns_names(names: Sequence[str], flag: str = "--additional-dnsname") -> list[str]:
    """Validate DNS names; an IP address given as a name is refused (the seed accepted it)."""
    out: list[str] = []
    for name in names:
        try:
            validate.ip_address(name)
        except ValueError:
            pass
        else:
            raise UsageError(
                f"{flag} {name!r} is an IP address, not a DNS name; "
                "pass it with --additional-ipaddress"
            )
        if not validate.fits(DNS_NAME_RE, name, 253):
            raise UsageError(f"{flag} {name!r} is not a valid DNS name")
        out.append(name.lower())
    return out


def parse_ip_addresses(values: Sequence[str]) -> list[IPAddress]:
    out: list[IPAddress] = []
    for value in values:
        try:
            out.append(ipaddress.ip_address(validate.ip_address(value)))
        except ValueError:
            raise UsageError(f"--additional-ipaddress {value!r} is not an IP address") from None
    return out


# ---- primitives ---------------------------------------------------------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_serial() -> int:
    """A random serial in [1, 2^128): Nomad draws from [0, 2^128); X.509 forbids zero."""
    while True:
        serial = secrets.randbits(128)
        if serial:
            return serial


def new_gossip_key() -> str:
    """32 CSPRNG bytes in padded standard base64 (`nomad operator gossip keyring generate`)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def check_gossip_key(value: str, source: str = "gossip key") -> str:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PkiError(f"{source} is not valid base64") from None
    if len(raw) not in (16, 24, 32):
        raise PkiError(f"{source} decodes to {len(raw)} bytes; Nomad needs 16, 24 or 32")
    return value.strip()


def _skid(public_key: ec.EllipticCurvePublicKey) -> bytes:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def _key_usage(*allowed: str) -> x509.KeyUsage:
    flags = (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
    )  # fmt: skip
    return x509.KeyUsage(**{flag: flag in allowed for flag in flags})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_ca(
    *,
    days: int = CA_DAYS,
    domain: str = "nomad",
    name_constraint: bool = False,
    additional_domains: Sequence[str] = (),
    organizational_unit: str = "Nomad",
) -> KeyPair:
    """A self-signed CA as `nomad tls ca create` makes it (neutral organisation name)."""
    key = new_key()
    serial = new_serial()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Nomad Agent CA {serial}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nomadctl"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit),
        ]
    )
    now = _now()
    skid = _skid(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            _key_usage("digital_signature", "key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier(skid), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(skid, None, None),
            critical=False,
        )
    )
    if name_constraint:
        permitted: list[str] = []
        for name in (domain, "localhost", "nomad", *additional_domains):
            if name not in permitted:
                permitted.append(name)
        builder = builder.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(n) for n in permitted], excluded_subtrees=None
            ),
            critical=True,
        )
    return KeyPair(builder.sign(key, hashes.SHA256()), key)


def leaf_names(
    kind: Kind,
    region: str,
    domain: str,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[IPAddress] = (),
) -> tuple[str, list[str], list[IPAddress]]:
    """CN, DNS SANs and IP SANs of a leaf, in Nomad's order."""
    cn = f"{kind}.{region}.{domain}"
    dns = [*dns_names, cn, "localhost"]
    ips = list(ip_addresses)
    if kind != "cli":
        ips.append(ipaddress.ip_address("127.0.0.1"))
    return cn, _dedupe(dns), _dedupe(ips)


def _dedupe(items: Sequence[T]) -> list[T]:
    out: list[T] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def new_leaf(
    ca: KeyPair,
    kind: Kind,
    *,
    region: str = "global",
    domain: str = "nomad",
    days: int = LEAF_DAYS,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[IPAddress] = (),
) -> KeyPair:
    """A server, client or cli certificate signed by `ca`, checked against it before return."""
    if kind not in KINDS:
        raise ValueError(f"unknown certificate kind {kind!r}")
    cn, dns, ips = leaf_names(kind, region, domain, dns_names, ip_addresses)
    key = new_key()
    now = _now()
    not_after = leaf_not_after(ca, now, days)
    eku = (
        [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
        if kind == "cli"
        else [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    sans += [x509.IPAddress(ip) for ip in ips]
    ca_skid = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(new_serial())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage("digital_signature", "key_encipherment"),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(x509.SubjectKeyIdentifier(_skid(key.public_key())), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(ca_skid, None, None), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    verify_leaf(ca.cert, cert, cn)  # as Nomad does after signing
    return KeyPair(cert, key)


def leaf_not_after(ca: KeyPair, now: dt.datetime, days: int) -> dt.datetime:
    """`days` from now, but never past the CA's own end: a leaf outliving its CA would only
    look valid (a verifier refuses the chain from the CA's expiry on)."""
    return min(now + dt.timedelta(days=days), ca.cert.not_valid_after_utc)


def renew_leaf(ca: KeyPair, old: x509.Certificate, *, days: int = LEAF_DAYS) -> KeyPair:
    """A new key and certificate for the same names as `old`, signed by `ca`.

    Subject, SANs (in their order), key usages and extended key usages are copied; the key,
    serial, validity and key identifiers are new. Checked against `ca` before return."""
    key = new_key()
    now = _now()
    ca_skid = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(new_serial())
        .not_valid_before(now)
        .not_valid_after(leaf_not_after(ca, now, days))
    )
    fresh = (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)
    for ext in old.extensions:
        if not isinstance(ext.value, fresh):
            builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier(_skid(key.public_key())), critical=False
    ).add_extension(x509.AuthorityKeyIdentifier(ca_skid, None, None), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    cn = old.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    dns, _ = san_names(cert)
    name = str(cn[0].value) if cn and str(cn[0].value) in dns else (dns or ["localhost"])[0]
    verify_leaf(ca.cert, cert, name)
    return KeyPair(cert, key)


def load_certs(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a CA bundle)."""
    try:
        return x509.load_pem_x509_certificates(trust.read_file(path, path.parent))
    except OSError as exc:
        raise PkiError(f"cannot read certificate {path}: {exc.strerror}") from None
    except ValueError:
        raise PkiError(f"{path} is not a valid PEM certificate bundle") from None


# ---- checks ---------------------------------------------------------------------------


def key_matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return cert.public_key() == key.public_key()


def verify_leaf(ca_cert: x509.Certificate, leaf: x509.Certificate, dns_name: str) -> None:
    """Raise PkiError unless `leaf` chains to `ca_cert` and is valid for `dns_name` now."""
    try:
        verifier = (
            PolicyBuilder()
            .store(Store([ca_cert]))
            .time(dt.datetime.now(dt.UTC))
            .build_server_verifier(x509.DNSName(dns_name))
        )
        verifier.verify(leaf, [])
    except VerificationError as exc:
        raise PkiError(
            f"certificate for {dns_name} does not verify against the CA: {exc}"
        ) from None


def signed_by(ca_cert: x509.Certificate, cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# ---- PEM ----------------------------------------------------------------------------------


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """SEC1 `EC PRIVATE KEY` PEM, as Nomad writes it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(trust.read_file(path, path.parent))
    except OSError as exc:
        raise PkiError(f"cannot read certificate {path}: {exc.strerror}") from None
    except ValueError:
        raise PkiError(f"{path} is not a valid PEM certificate") from None


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        data = trust.read_file(path, path.parent)  # O_NOFOLLOW, ours alone
        key = serialization.load_pem_private_key(data, password=None)
    except OSError as exc:
        raise PkiError(f"cannot read key {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise PkiError(f"{path} is not a valid unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path} is not an ECDSA key")
    return key


def load_pair(cert_path: Path, key_path: Path) -> KeyPair:
    cert, key = load_cert(cert_path), load_key(key_path)
    if not key_matches(cert, key):
        raise PkiError(f"key {key_path} does not match certificate {cert_path}")
    return KeyPair(cert, key)


def san_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses as text) of a certificate."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = ext.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return dns, ips
