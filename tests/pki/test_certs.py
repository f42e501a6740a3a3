"""`nomadctl certs`: files and properties as `nomad tls` makes them (nomad-facts sections 1-3).

Every property is read back from the files with `cryptography` and, independently, with the
`openssl` command line; a real TLS handshake on loopback proves the certificates do their job.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nomadctl.pki import issue as pki

TREE = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # the tree under test


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True,
        text=True,
        env={"NOMADCTL_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "200", **TREE},
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def openssl(*args: str) -> str:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    run(
        home,
        "certs",
        "--additional-dnsname",
        "nomad.example.com",
        "--additional-ipaddress",
        "198.18.1.4",
    )
    return home / "nomad" / "certificates"


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def skid_of(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


LEAVES = {
    "server": "servers/global-server-nomad",
    "client": "clients/global-client-nomad",
    "cli": "cli/global-cli-nomad",
}


def test_layout_names_and_modes(made: Path) -> None:
    expected = ["ca/nomad-agent-ca", *LEAVES.values()]
    for stem in expected:
        cert, key = made / f"{stem}.pem", made / f"{stem}-key.pem"
        assert cert.is_file() and key.is_file()
        assert key.stat().st_mode & 0o777 == 0o600
        assert key.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
        assert key.parent.stat().st_mode & 0o777 == 0o700
    ws = made.parent
    assert ws.stat().st_mode & 0o777 == 0o700
    assert (ws / "gossip.key").stat().st_mode & 0o777 == 0o600
    assert not list(made.rglob("*.tmp")), "no temp files left behind"


def test_ca_properties(made: Path) -> None:
    ca = load(made / "ca/nomad-agent-ca.pem")
    key = serialization.load_pem_private_key(
        (made / "ca/nomad-agent-ca-key.pem").read_bytes(), None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert ca.public_key() == key.public_key()
    assert 0 < ca.serial_number < 2**128
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == f"Nomad Agent CA {ca.serial_number}"
    org = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert "hashicorp" not in str(org).lower()
    now = dt.datetime.now(dt.UTC)
    assert now - dt.timedelta(minutes=5) <= ca.not_valid_before_utc <= now, "no backdating"
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == dt.timedelta(days=1825)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and ku.digital_signature
    assert not ku.key_encipherment
    skid = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    akid = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert skid == skid_of(ca) and len(skid) == 32 and akid.key_identifier == skid
    with pytest.raises(x509.ExtensionNotFound):
        ca.extensions.get_extension_for_class(x509.NameConstraints)
    text = openssl("x509", "-in", str(made / "ca/nomad-agent-ca.pem"), "-noout", "-text")
    assert "CA:TRUE" in text and "Certificate Sign, CRL Sign" in text
    assert "ecdsa-with-SHA256" in text and "prime256v1" in text


@pytest.mark.parametrize("kind", ["server", "client", "cli"])
def test_leaf_properties(made: Path, kind: str) -> None:
    ca = load(made / "ca/nomad-agent-ca.pem")
    cert = load(made / f"{LEAVES[kind]}.pem")
    key = serialization.load_pem_private_key((made / f"{LEAVES[kind]}-key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert cert.public_key() == key.public_key()
    assert cert.subject.rfc4514_string() == f"CN={kind}.global.nomad"
    assert cert.issuer == ca.subject
    assert 0 < cert.serial_number < 2**128 and cert.serial_number != ca.serial_number
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=365)
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not bc.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
    eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    server_auth, client_auth = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    assert eku == ([client_auth, server_auth] if kind == "cli" else [server_auth, client_auth])
    skid = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert skid == skid_of(cert)
    akid = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert akid.key_identifier == skid_of(ca)
    dns, ips = pki.san_names(cert)
    assert dns == ["nomad.example.com", f"{kind}.global.nomad", "localhost"]
    assert ips == (["198.18.1.4"] if kind == "cli" else ["198.18.1.4", "127.0.0.1"])

    cafile, leaf = str(made / "ca/nomad-agent-ca.pem"), str(made / f"{LEAVES[kind]}.pem")
    for purpose in ("sslserver", "sslclient"):
        assert f"{leaf}: OK" in openssl("verify", "-CAfile", cafile, "-purpose", purpose, leaf)
    san = openssl("x509", "-in", leaf, "-noout", "-ext", "subjectAltName")
    assert f"DNS:{kind}.global.nomad" in san and "IP Address:198.18.1.4" in san
    assert ("IP Address:127.0.0.1" in san) == (kind != "cli")


def test_gossip_key(made: Path) -> None:
    text = (made.parent / "gossip.key").read_text().strip()
    assert len(text) == 44 and len(base64.b64decode(text, validate=True)) == 32


def _serve_once(ctx: ssl.SSLContext, sock: socket.socket, result: dict[str, object]) -> None:
    conn, _ = sock.accept()
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            result["peer"] = tls.getpeercert()
            tls.sendall(b"ok")
    except (ssl.SSLError, OSError) as exc:
        result["error"] = exc


def handshake(made: Path, client_cert: Path, client_key: Path, server_name: str) -> bytes:
    """A loopback TLS server with the server cert that requires a client cert from the CA."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(
        made / "servers/global-server-nomad.pem", made / "servers/global-server-nomad-key.pem"
    )
    sctx.load_verify_locations(made / "ca/nomad-agent-ca.pem")
    sctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    result: dict[str, object] = {}
    thread = threading.Thread(target=_serve_once, args=(sctx, listener, result), daemon=True)
    thread.start()
    cctx = ssl.create_default_context(cafile=str(made / "ca/nomad-agent-ca.pem"))
    cctx.load_cert_chain(client_cert, client_key)
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=5) as raw,
            cctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            return tls.recv(2)
    finally:
        thread.join(5)
        listener.close()


def test_mutual_tls_handshake(made: Path, tmp_path: Path) -> None:
    cli = made / "cli/global-cli-nomad.pem", made / "cli/global-cli-nomad-key.pem"
    assert handshake(made, *cli, "server.global.nomad") == b"ok"

    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(made, *cli, "server.other.nomad")

    other = pki.new_ca()
    stranger = pki.new_leaf(other, "cli")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(pki.cert_pem(stranger.cert))
    key.write_bytes(pki.key_pem(stranger.key))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(made, cert, key, "server.global.nomad")


def test_rerun_keeps_everything(tmp_path: Path) -> None:
    run(tmp_path, "certs")
    certs = tmp_path / "nomad" / "certificates"
    before = {p: p.read_bytes() for p in certs.rglob("*.pem")}
    gossip = (tmp_path / "nomad" / "gossip.key").read_bytes()
    out = json.loads(run(tmp_path, "certs", "--json").stdout)
    assert {r["status"] for r in out} == {"kept"}
    assert {p: p.read_bytes() for p in certs.rglob("*.pem")} == before
    assert (tmp_path / "nomad" / "gossip.key").read_bytes() == gossip

    out = json.loads(run(tmp_path, "certs", "--force", "--json").stdout)
    status = {r["kind"]: r["status"] for r in out}
    assert status == {
        "ca": "kept",
        "server": "reissued",
        "client": "reissued",
        "cli": "reissued",
        "gossip": "kept",
    }
    assert (certs / "ca/nomad-agent-ca.pem").read_bytes() == before[certs / "ca/nomad-agent-ca.pem"]
    assert (certs / "cli/global-cli-nomad.pem").read_bytes() != before[
        certs / "cli/global-cli-nomad.pem"
    ]

    out = json.loads(run(tmp_path, "certs", "--rotate-ca", "--json").stdout)
    status = {r["kind"]: r["status"] for r in out}
    assert status["ca"] == "rotated" and status["server"] == "reissued"
    new_ca = load(certs / "ca/nomad-agent-ca.pem")
    old_ca = x509.load_pem_x509_certificate(before[certs / "ca/nomad-agent-ca.pem"])
    assert new_ca.serial_number != old_ca.serial_number
    moved = list((certs / "ca").glob("replaced-*/nomad-agent-ca-key.pem"))
    assert len(moved) == 1 and moved[0].stat().st_mode & 0o777 == 0o600
    assert pki.signed_by(new_ca, load(certs / "servers/global-server-nomad.pem"))


def test_show_gossip_key_prints_only_the_key(tmp_path: Path) -> None:
    run(tmp_path, "certs")
    out = run(tmp_path, "certs", "--show-gossip-key").stdout
    assert out.strip() == (tmp_path / "nomad" / "gossip.key").read_text().strip()
    normal = run(tmp_path, "certs").stdout + run(tmp_path, "certs", "--json").stdout
    assert out.strip() not in normal, "the gossip key is printed only on request"


def test_region_domain_and_options(tmp_path: Path) -> None:
    out = json.loads(
        run(
            tmp_path,
            "--cluster",
            "lab",
            "certs",
            "--region",
            "eu",
            "--domain",
            "corp",
            "--days",
            "30",
            "--ca-days",
            "90",
            "--name-constraint",
            "--additional-domain",
            "example.com",
            "--json",
        ).stdout
    )
    certs = tmp_path / "lab" / "certificates"
    ca = load(certs / "ca/corp-agent-ca.pem")
    server = load(certs / "servers/eu-server-corp.pem")
    assert server.subject.rfc4514_string() == "CN=server.eu.corp"
    assert server.not_valid_after_utc - server.not_valid_before_utc == dt.timedelta(days=30)
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == dt.timedelta(days=90)
    nc = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert [n.value for n in nc.value.permitted_subtrees] == [
        "corp",
        "localhost",
        "nomad",
        "example.com",
    ]
    assert (certs / "cli/eu-cli-corp-key.pem").exists()
    assert len(out) == 5


def corrupt_cases() -> list[tuple[str, str]]:
    return [
        ("ca/nomad-agent-ca-key.pem", "mismatch"),
        ("ca/nomad-agent-ca.pem", "garbage"),
        ("ca/nomad-agent-ca-key.pem", "delete"),
        ("servers/global-server-nomad.pem", "foreign"),
        ("cli/global-cli-nomad-key.pem", "garbage"),
    ]


@pytest.mark.parametrize(("target", "damage"), corrupt_cases())
def test_damaged_files_are_one_line_errors(tmp_path: Path, target: str, damage: str) -> None:
    run(tmp_path, "certs")
    path = tmp_path / "nomad" / "certificates" / target
    if damage == "mismatch":
        path.write_bytes(pki.key_pem(pki.new_key()))
    elif damage == "garbage":
        path.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    elif damage == "delete":
        path.unlink()
    elif damage == "foreign":
        foreign = pki.new_leaf(pki.new_ca(), "server")
        path.write_bytes(pki.cert_pem(foreign.cert))
        path.with_name(path.name.replace(".pem", "-key.pem")).write_bytes(pki.key_pem(foreign.key))
    proc = run(tmp_path, "certs", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["certs", "--additional-dnsname", "10.1.2.3"], "is an IP address"),
        (["certs", "--additional-dnsname", "bad_name!"], "not a valid DNS name"),
        (["certs", "--additional-ipaddress", "nomad.example.com"], "not an IP address"),
        (["certs", "--region", "a.b"], "single DNS label"),
        (["certs", "--additional-domain", "x.com"], "--name-constraint"),
        (["--cluster", "Bad_Name", "certs"], "invalid cluster name"),
        (["--cluster", "a" * 33, "certs"], "invalid cluster name"),
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = run(tmp_path, *args, check=False)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # --region's edge check too (issue 16)
    assert not (tmp_path / "nomad" / "certificates").exists()


def test_gossip_key_file_damaged(tmp_path: Path) -> None:
    run(tmp_path, "certs")
    (tmp_path / "nomad" / "gossip.key").write_text("c2hvcnQ=\n")
    proc = run(tmp_path, "certs", check=False)
    assert proc.returncode != 0 and "16, 24 or 32" in proc.stderr
    assert "gossip.key" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
