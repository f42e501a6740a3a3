"""Local checks before `up` spends anything: each problem found, named, and only real ones."""

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from nomadctl.errors import PkiError, UsageError
from nomadctl.pki import issue
from nomadctl.plan.preflight import LocalInputs, check, check_ca, check_ssh_key, require


def write_ca(tmp: Path, days: int = 1825) -> tuple[Path, Path]:
    pair = issue.new_ca(days=days)
    cert, key = tmp / "ca.pem", tmp / "ca-key.pem"
    cert.write_bytes(issue.cert_pem(pair.cert))
    key.write_bytes(issue.key_pem(pair.key))
    key.chmod(0o600)
    return cert, key


def write_ssh_key(path: Path, mode: int = 0o600) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(mode)
    pub = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.with_suffix(".pub").write_bytes(pub + b"\n")
    return path


def test_a_good_ca_and_no_ca_at_all_pass(tmp_path: Path) -> None:
    assert check_ca(tmp_path / "none.pem", tmp_path / "none-key.pem", 365) == []
    cert, key = write_ca(tmp_path)
    assert check_ca(cert, key, 365) == []


def test_a_ca_key_that_belongs_to_another_ca_is_found(tmp_path: Path) -> None:
    cert, _ = write_ca(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = write_ca(other)
    [problem] = check_ca(cert, other_key, 365)
    assert problem.error is PkiError and "is not the key of" in problem.message


def test_half_a_ca_and_garbage_are_found(tmp_path: Path) -> None:
    cert, key = write_ca(tmp_path)
    key.unlink()
    [missing] = check_ca(cert, key, 365)
    assert str(key) in missing.message
    key.write_text("not a key\n")
    [garbage] = check_ca(cert, key, 365)
    assert "not a valid" in garbage.message


def test_a_leaf_never_outlives_its_ca(tmp_path: Path) -> None:
    cert, key = write_ca(tmp_path, days=100)
    [problem] = check_ca(cert, key, 365)
    assert "before node certificates of 365 days" in problem.message
    assert check_ca(cert, key, 30) == []


def test_ssh_key_checks(tmp_path: Path) -> None:
    good = write_ssh_key(tmp_path / "id")
    assert check_ssh_key(good) == []
    [pub] = check_ssh_key(good.with_suffix(".pub"))
    assert "public key" in pub.message
    [missing] = check_ssh_key(tmp_path / "nope")
    assert "does not exist" in missing.message
    [directory] = check_ssh_key(tmp_path)
    assert "not a regular file" in directory.message
    loose = write_ssh_key(tmp_path / "loose", mode=0o644)
    [mode] = check_ssh_key(loose)
    assert "0644" in mode.message
    (tmp_path / "text").write_text("hello\n")
    [text] = check_ssh_key(tmp_path / "text")
    assert "not a PEM or OpenSSH private key" in text.message


def test_check_lists_every_problem_and_require_names_the_first(tmp_path: Path) -> None:
    cert, key = write_ca(tmp_path, days=10)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    inputs = LocalInputs(
        ca_cert=cert,
        ca_key=key,
        leaf_days=365,
        ssh_key=tmp_path / "missing-key",
        nomad_binary=tmp_path / "missing-nomad",
        license_file=empty,
    )
    problems = check(inputs)
    assert [p.what for p in problems] == ["CA", "--ssh-key", "--nomad-binary", "--license-file"]
    with pytest.raises(PkiError) as err:
        require(problems)
    assert "and 3 more problem(s)" in err.value.message
    with pytest.raises(UsageError):
        require(problems[1:])
    require([])


def test_an_expired_ca_is_refused(tmp_path: Path) -> None:
    cert, key = write_ca(tmp_path)
    pair = issue.load_pair(cert, key)
    # Re-sign the same CA with a validity that ended yesterday.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = dt.datetime.now(dt.UTC)
    old = (
        x509.CertificateBuilder()
        .subject_name(pair.cert.subject)
        .issuer_name(pair.cert.subject)
        .public_key(pair.key.public_key())
        .serial_number(issue.new_serial())
        .not_valid_before(now - dt.timedelta(days=10))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(pair.key, hashes.SHA256())
    )
    cert.write_bytes(issue.cert_pem(old))
    [problem] = check_ca(cert, key, 30)
    assert "expired on" in problem.message
