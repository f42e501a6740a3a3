"""The release mirror fixture is what HashiCorp publishes: checksums match, gpg verifies."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mirror import ReleaseMirror, build_release_mirror, gpg


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseMirror]:
    home = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))
    root = tmp_path_factory.mktemp("mirror")
    m = build_release_mirror(root, home, {"1.9.3": b"#!/bin/sh\n", "1.9.3+ent": b"#!/bin/sh\n"})
    try:
        yield m
    finally:
        m.key.close()
        shutil.rmtree(home, ignore_errors=True)


def verify(m: ReleaseMirror, version: str, tmp: Path) -> subprocess.CompletedProcess:
    keyring = tmp / "k.gpg"
    keyring.write_bytes(gpg(tmp, "--dearmor", input=m.key_armored))
    return subprocess.run(
        [
            "gpgv",
            "--keyring",
            str(keyring),
            str(m.path(version, "sig")),
            str(m.path(version, "sums")),
        ],
        capture_output=True,
        check=False,
    )


def test_layout_is_hashicorps_and_served(mirror: ReleaseMirror) -> None:
    z = mirror.path("1.9.3+ent")
    assert (
        z.relative_to(mirror.root).as_posix() == "nomad/1.9.3+ent/nomad_1.9.3+ent_linux_amd64.zip"
    )
    with zipfile.ZipFile(z) as f:
        assert f.namelist() == ["nomad"]
        assert f.getinfo("nomad").external_attr >> 16 == 0o100755
    sums = mirror.path("1.9.3", "sums").read_text()
    digest = hashlib.sha256(mirror.path("1.9.3").read_bytes()).hexdigest()
    line = f"{digest}  nomad_1.9.3_linux_amd64.zip"
    assert line in sums.splitlines()
    sums_path = "nomad/1.9.3/nomad_1.9.3_SHA256SUMS"
    with mirror.serve() as url, urllib.request.urlopen(f"{url}/{sums_path}") as r:
        assert r.read().decode() == sums


def test_signature_verifies_and_tampering_breaks_it(mirror: ReleaseMirror, tmp_path: Path) -> None:
    assert len(mirror.fingerprint) == 40
    assert verify(mirror, "1.9.3", tmp_path).returncode == 0
    mirror.tamper("1.9.3+ent", "sums")
    assert verify(mirror, "1.9.3+ent", tmp_path).returncode != 0
