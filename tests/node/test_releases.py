"""releases.py: which Nomad binary the local provider runs, and the verified download.

Real parts: the release mirror (tests/mirror/release.py, HashiCorp's layout) served on
loopback, signed with a throwaway key made by real gpg; the stand-in as the binary.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nomadctl.node import releases
from nomadctl.node.release_keys import SigningKey
from tests.mirror import ReleaseMirror, build_release_mirror, make_key
from tests.standin import make_binary

GOOD, BAD_ZIP, BAD_SUMS, OTHER_KEY = "1.11.0", "1.10.0", "1.9.0", "1.8.4"


@dataclass
class Env:
    mirror: ReleaseMirror
    url: str
    key: SigningKey
    binaries: dict[str, bytes]
    tmp: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("releases")
    gnupg = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))  # short: gpg-agent's socket
    versions = [GOOD, BAD_ZIP, BAD_SUMS, OTHER_KEY]
    binaries = {v: make_binary(tmp / f"nomad-{v}", version=v).read_bytes() for v in versions}
    mirror = build_release_mirror(tmp / "mirror", gnupg / "k", binaries)
    mirror.tamper(BAD_ZIP, "zip")
    mirror.tamper(BAD_SUMS, "sums")
    stranger = make_key(gnupg / "s", uid="someone else <x@example.invalid>")
    stranger.sign_detached(mirror.path(OTHER_KEY, "sums"), mirror.path(OTHER_KEY, "sig"))
    key = SigningKey(mirror.key_armored, mirror.fingerprint)
    try:
        with mirror.serve("127.0.0.1") as url:
            yield Env(mirror, url, key, binaries, tmp)
    finally:
        mirror.key.close()
        stranger.close()
        shutil.rmtree(gnupg, ignore_errors=True)


GPG = shutil.which("gpg")


def _path_with(monkeypatch: pytest.MonkeyPatch, directory: Path | None) -> None:
    """PATH holding only gpg's directory and `directory`: no other `nomad` is found."""
    assert GPG is not None and not (Path(GPG).parent / "nomad").exists()
    dirs = [str(directory)] if directory else []
    monkeypatch.setenv("PATH", os.pathsep.join([*dirs, str(Path(GPG).parent)]))


def test_download_is_verified_cached_and_reported(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _path_with(monkeypatch, None)
    home = tmp_path / "home"
    choice = releases.choose(home, GOOD, None, env.url, env.key.fingerprint)
    cached = releases.cache_path(home, GOOD, env.url, env.key.fingerprint)
    assert choice.source == "download" and choice.path == cached
    messages: list[str] = []
    path = releases.ensure(choice, messages.append, env.url, env.key)
    assert path.read_bytes() == env.binaries[GOOD]
    assert path.stat().st_mode & 0o777 == 0o755
    assert (home / "cache").stat().st_mode & 0o777 == 0o700
    assert releases.binary_version(path) == GOOD
    assert any(m.startswith(f"downloading Nomad {GOOD}: ") and " of " in m for m in messages)
    done = [m for m in messages if m.startswith("downloading")][-1]
    size = f"{len(env.mirror.path(GOOD).read_bytes()) / 1e6:.1f}"
    assert done.endswith(f"{size} of {size} MB"), messages
    # Once cached, nothing is downloaded again (the mirror is gone: port 9 answers nothing),
    # but the file is checked against its record again.
    again = releases.choose(home, GOOD, None, env.url, env.key.fingerprint)
    assert again.source == "cache" and again.path == path
    assert releases.ensure(again, messages.append, env.url, env.key) == path
    # Another source's cache is its own: HashiCorp's release is not the mirror's.
    assert releases.choose(home, GOOD).source == "download"
    assert releases.choose(home, GOOD, None, "http://127.0.0.1:9", env.key.fingerprint).source == (
        "download"
    )


def _cached(env: Env, home: Path) -> releases.BinaryChoice:
    choice = releases.choose(home, GOOD, None, env.url, env.key.fingerprint)
    releases.ensure(choice, lambda _m: None, env.url, env.key)
    again = releases.choose(home, GOOD, None, env.url, env.key.fingerprint)
    assert again.source == "cache"
    return again


def test_a_cached_binary_changed_since_verification_is_refused(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28 point 2: verified every time it is used, not once. Failed on the main of
    2026-12-07 (b311992): a cached binary was run as found."""
    _path_with(monkeypatch, None)
    choice = _cached(env, tmp_path / "home")
    choice.path.write_bytes(b"#!/bin/sh\necho owned\n")
    with pytest.raises(releases.ReleaseError) as err:
        releases.ensure(choice, lambda _m: None, env.url, env.key)
    assert "changed since it was verified" in err.value.message
    assert "\n" not in err.value.message and "not using it" in err.value.message


@pytest.mark.parametrize("field", ["key_fingerprint", "source", "version", "missing", "link"])
def test_a_cache_record_that_does_not_match_is_refused(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    """The record names the key and source it was verified with: another key's or source's
    record (or none, or a symlinked binary) is not this one's."""
    import json

    _path_with(monkeypatch, None)
    choice = _cached(env, tmp_path / "home")
    record_path = choice.path.with_name(releases.RECORD)
    record = json.loads(record_path.read_text())
    assert record["sha256"] and record["key_fingerprint"] == env.key.fingerprint.upper()
    if field == "missing":
        record_path.unlink()
    elif field == "link":
        real = tmp_path / "elsewhere"
        real.write_bytes(choice.path.read_bytes())
        choice.path.unlink()
        choice.path.symlink_to(real)
    else:
        record[field] = "C" * 40 if field == "key_fingerprint" else "other"
        record_path.write_text(json.dumps(record))
    with pytest.raises(releases.ReleaseError) as err:
        releases.ensure(choice, lambda _m: None, env.url, env.key)
    assert "not using it" in err.value.message and "\n" not in err.value.message


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://releases.example.com/mirror", True),
        ("http://127.0.0.1:8080", True),
        ("http://127.9.9.9", True),
        ("http://[::1]:8080", True),
        ("http://127.evil.example", False),
        ("http://127.0.0.1.nip.io", False),
        ("http://localhost:8080", False),
        ("http://198.18.0.1", False),
        ("ftp://127.0.0.1", False),
        ("http://user:pw@127.0.0.1", False),
    ],
)
def test_mirror_is_https_unless_a_loopback_address(url: str, ok: bool) -> None:
    if ok:
        assert releases.check_releases_url(url) == url
    else:
        with pytest.raises(releases.ReleaseError, match="--releases-url"):
            releases.check_releases_url(url)


def test_up_refuses_a_prefix_loopback_mirror(tmp_path: Path) -> None:
    """Failed on main: `http://127.evil.example` passed as loopback by its prefix."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "NOMADCTL_HOME": str(tmp_path / "home")}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})
    argv = [sys.executable, "-m", "nomadctl", "up", "--local", "--dry-run"]
    proc = subprocess.run(
        [*argv, "--releases-url", "http://127.evil.example"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 2 and "--releases-url" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("version", "words"),
    [
        (BAD_ZIP, f"checksum mismatch for nomad_{BAD_ZIP}_linux_"),
        (BAD_SUMS, f"nomad_{BAD_SUMS}_SHA256SUMS is not signed by the release key"),
        (OTHER_KEY, f"nomad_{OTHER_KEY}_SHA256SUMS is not signed by the release key"),
    ],
)
def test_tampered_or_foreign_release_is_refused(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, words: str
) -> None:
    _path_with(monkeypatch, None)
    choice = releases.choose(tmp_path, version)
    with pytest.raises(releases.ReleaseError) as err:
        releases.ensure(choice, lambda _m: None, env.url, env.key)
    assert words in err.value.message
    assert "\n" not in err.value.message
    assert not choice.path.exists()


def test_hashicorp_key_refuses_the_mirror(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the mirror's key, HashiCorp's pinned key is the one asked for."""
    _path_with(monkeypatch, None)
    choice = releases.choose(tmp_path, GOOD)
    with pytest.raises(releases.ReleaseError, match="C874011F0AB405110D02105534365D9472D7468F"):
        releases.ensure(choice, lambda _m: None, env.url)


def test_missing_release_is_one_line(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _path_with(monkeypatch, None)
    choice = releases.choose(tmp_path, "1.99.0")
    with pytest.raises(releases.ReleaseError, match="answered HTTP 404"):
        releases.ensure(choice, lambda _m: None, env.url, env.key)


def test_given_binary_then_path_when_supported(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = env.tmp / f"nomad-{GOOD}"
    assert releases.choose(tmp_path, GOOD, given) == releases.BinaryChoice(given, "given", GOOD)
    with pytest.raises(releases.ReleaseError, match="not an executable file"):
        releases.choose(tmp_path, GOOD, tmp_path / "missing")

    supported_dir, old_dir = tmp_path / "new", tmp_path / "old"
    make_binary(supported_dir / "nomad", version="1.9.3")
    make_binary(old_dir / "nomad", version="1.7.7")
    _path_with(monkeypatch, supported_dir)
    found = releases.choose(tmp_path, GOOD)
    assert (found.source, found.path, found.version) == ("path", supported_dir / "nomad", "1.9.3")
    _path_with(monkeypatch, old_dir)  # too old: the release is downloaded instead, and said
    passed = releases.choose(tmp_path, GOOD)
    assert passed.source == "download"
    assert passed.passed_over == (
        f"`nomad` on PATH ({old_dir / 'nomad'}) passed over: Nomad 1.7.7, older than 1.8 "
        "(the oldest nomadctl supports)",
    )


def test_bad_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(releases.ReleaseError, match="not a release version"):
        releases.cache_path(tmp_path, "1.11/../../x")
    assert releases.supported("1.8.0") and not releases.supported("1.7.9")
    assert not releases.supported(None)
    assert os.sep not in releases.platform_names()[1]
