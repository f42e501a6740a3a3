"""Test helper: a CA and node certificates shaped like the ones `nomad tls` makes.

P-256 keys in `EC PRIVATE KEY` PEM, SKID = SHA-256 of the SubjectPublicKeyInfo, AKID = the
CA's SKID, node certs with EKU serverAuth + clientAuth and SANs `<role>.<region>.nomad`,
`localhost`, `127.0.0.1` plus extra IPs/names. Only for tests of the stand-in; nomadctl has
its own `nomadctl.pki.issue`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CA:
    cert: Path
    key: Path

    def load(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key


def _skid(public_key: ec.EllipticCurvePublicKey) -> bytes:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_ca(directory: Path, domain: str = "nomad") -> CA:
    """`nomad tls ca create`: `<domain>-agent-ca.pem` and `<domain>-agent-ca-key.pem`."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    serial = secrets.randbelow(2**128) or 1
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Nomad Agent CA {serial}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nomadctl tests"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    skid = _skid(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier(skid), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(skid, None, None),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    ca = CA(directory / f"{domain}-agent-ca.pem", directory / f"{domain}-agent-ca-key.pem")
    ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(ca.key, key)
    return ca


def make_cert(
    ca: CA,
    directory: Path,
    role: str,
    region: str = "global",
    ips: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
    common_name: str | None = None,
    include_role_name: bool = True,
    file_stem: str | None = None,
) -> CertPair:
    """`nomad tls cert create -server|-client|-cli`, with extra IPs/names.

    `include_role_name=False` leaves `<role>.<region>.nomad` out of the SANs (to test the
    agent's refusal); `file_stem` names the files (default `<region>-<role>-nomad`).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = ca.load()
    key = ec.generate_private_key(ec.SECP256R1())
    role_name = f"{role}.{region}.nomad"
    cn = common_name or role_name
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    if include_role_name:
        names.append(x509.DNSName(role_name))
    names.append(x509.DNSName("localhost"))
    addresses = [*ips, "127.0.0.1"] if role != "cli" else list(ips)
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(addresses)]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(secrets.randbelow(2**128) or 1)
        .not_valid_before(now - dt.timedelta(seconds=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier(_skid(key.public_key())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(_skid(ca_key.public_key()), None, None), critical=False
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    stem = file_stem or f"{region}-{role}-nomad"
    pair = CertPair(directory / f"{stem}.pem", directory / f"{stem}-key.pem")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair
