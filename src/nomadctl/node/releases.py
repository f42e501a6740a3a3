"""The Nomad binary for agents on this machine: given, found on PATH, or downloaded once.

Order: `--nomad-binary PATH`; else `nomad` on PATH when it is proven (`node/proof.py`: built
for this OS and CPU, `nomad version` says a supported release, 1.8 or later); else the release
from the cache under the nomadctl home, downloaded there once from HashiCorp's releases (or a
mirror with the same layout). A `nomad` on PATH that is passed over is named with the reason
(`BinaryChoice.passed_over`); a given binary that fails its proof is refused; a download is
proven before it is used. Where a binary fetched on another machine goes is `cache_path`:

    <releases>/nomad/<v>/nomad_<v>_<os>_<arch>.zip
    <releases>/nomad/<v>/nomad_<v>_SHA256SUMS       "<sha256>  <file>" per line
    <releases>/nomad/<v>/nomad_<v>_SHA256SUMS.sig   detached signature of the sums

The sums must carry a valid signature by the pinned key (gpg's VALIDSIG names the primary
key's fingerprint, so a subkey signature counts), and the zip must match its line in them:
the same checks as templates/install-zip.sh makes on a host.

The cache keeps one binary per source (releases URL and signing key): a binary a mirror
served is never taken for HashiCorp's. Beside it, `verified.json` records the executable's
SHA-256, the key's fingerprint and the URL it was verified with; every use checks the file
against that record again, and a mismatch is refused in one line. A mirror is `https`, or
`http` to a loopback *address* only (parsed, never a prefix: `http://127.evil.example` is a
name anyone can own).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nomadctl.errors import NomadctlError
from nomadctl.node import proof
from nomadctl.node.release_keys import (
    RELEASE_KEY_FINGERPRINT,
    SigningKey,
    hashicorp_release_key,
)
from nomadctl.trust import check_dirs
from nomadctl.validate import fits
from nomadctl.workspace import atomic_write, ensure_private_dir

Progress = Callable[[str], None]
MIN_VERSION = proof.MIN_VERSION
RELEASES_URL = "https://releases.hashicorp.com"
RELEASE_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?(\+ent)?", re.ASCII)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ReleaseError(NomadctlError):
    """The Nomad binary could not be found, downloaded or trusted."""


@dataclass(frozen=True)
class BinaryChoice:
    """Which binary the agents will run; `path` is where it is (or will be, once downloaded)."""

    path: Path
    source: str  # "given" | "path" | "cache" | "download"
    version: str  # "" when not known (a given binary that does not say)
    passed_over: tuple[str, ...] = ()  # a `nomad` on PATH not used, and why

    def describe(self) -> str:
        what = {
            "given": "given with --nomad-binary",
            "path": "found on PATH",
            "cache": "downloaded earlier",
            "download": "to be downloaded from the releases",
        }[self.source]
        version = f"Nomad {self.version} " if self.version else ""
        return f"{version}{what} ({self.path})"


def platform_names() -> tuple[str, str]:
    """HashiCorp's names for this OS and CPU ("linux", "amd64")."""
    os_name = "darwin" if sys.platform == "darwin" else "linux"
    machine = platform.machine().lower()
    if machine not in ARCHES:
        raise ReleaseError(f"no Nomad release for this CPU ({machine}); give --nomad-binary")
    return os_name, ARCHES[machine]


def binary_version(path: Path, timeout: float = 15.0) -> str | None:
    """The version `path version` reports ("1.11.1", "1.9.3+ent"), or None."""
    return proof.version_in(proof.run_version(path, timeout)[1])


def supported(version: str | None) -> bool:
    return proof.supported(version)


def check_version(version: str) -> str:
    if not fits(RELEASE_VERSION_RE, version, 64):
        raise ReleaseError(f"Nomad version {version!r} is not a release version like 1.11.1")
    return version


RECORD = "verified.json"


def check_releases_url(url: str) -> str:
    """`https://...`, or `http://` to a loopback address (127.0.0.0/8, ::1); raises
    ReleaseError. The host is parsed as an address: a name is never loopback by its look."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ReleaseError(f"--releases-url {url!r}: not a URL") from None
    if not url.isascii() or not host or parts.username or parts.password:
        raise ReleaseError(f"--releases-url {url!r}: use https://HOST[/PATH]")
    if parts.scheme == "https":
        return url
    try:
        loopback = parts.scheme == "http" and ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ReleaseError(
            f"--releases-url {url!r}: use an https:// URL (http only to a loopback address "
            "such as 127.0.0.1)"
        )
    return url


def source_id(releases_url: str, fingerprint: str) -> str:
    """The cache directory of one source: the releases URL and the key its sums are signed by."""
    text = f"{releases_url.rstrip('/')}\n{fingerprint.upper()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(
    home: Path,
    version: str,
    releases_url: str = RELEASES_URL,
    fingerprint: str = RELEASE_KEY_FINGERPRINT,
) -> Path:
    os_name, arch = platform_names()
    where = Path(home) / "cache" / "nomad" / check_version(version) / f"{os_name}_{arch}"
    return where / source_id(releases_url, fingerprint) / "nomad"


def choose(
    home: Path,
    version: str,
    nomad_binary: Path | None = None,
    releases_url: str = RELEASES_URL,
    fingerprint: str = RELEASE_KEY_FINGERPRINT,
) -> BinaryChoice:
    """Which binary to run, without any download (the plan shows this). A given binary that
    fails its proof is refused here, before anything is written. A cached one is not run
    here: `ensure` checks it against its verification record first, then tries it."""
    os_name, arch = platform_names()
    if nomad_binary is not None:
        path = Path(nomad_binary).expanduser().absolute()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ReleaseError(f"--nomad-binary {path}: not an executable file")
        reason, found = proof.why_unfit(path, os_name, arch)
        if reason:
            raise ReleaseError(
                f"--nomad-binary {path}: {reason}; give a Nomad {proof.min_text()}+ "
                f"binary for {os_name}/{arch}"
            )
        return BinaryChoice(path, "given", found)
    passed: list[str] = []
    on_path = shutil.which("nomad")
    if on_path:
        reason, found = proof.why_unfit(Path(on_path), os_name, arch)
        if reason is None:
            return BinaryChoice(Path(on_path).absolute(), "path", found)
        passed.append(f"`nomad` on PATH ({on_path}) passed over: {reason}")
    cached = cache_path(home, version, releases_url, fingerprint)
    if cached.is_file() and os.access(cached, os.X_OK):
        return BinaryChoice(cached, "cache", version, tuple(passed))
    return BinaryChoice(cached, "download", version, tuple(passed))


def elsewhere_hint(choice: BinaryChoice) -> str:
    """Where a binary fetched on another machine goes, so that `up --local` finds it. (Not
    into the download cache: a file there without nomadctl's record of its verification is
    refused, issue 28 point 2.)"""
    os_name, arch = platform_names()
    return (
        f"or take `nomad` from nomad_{choice.version}_{os_name}_{arch}.zip (fetched elsewhere) "
        f"and pass --nomad-binary PATH, or put a Nomad {proof.min_text()}+ `nomad` on PATH "
        "(or --releases-url URL, a mirror)"
    )


def ensure(
    choice: BinaryChoice,
    progress: Progress,
    releases_url: str = RELEASES_URL,
    release_key: SigningKey | None = None,
    timeout: float = 60.0,
) -> Path:
    """The chosen binary's path: a cached one checked against its record again, else
    downloaded and verified first, and recorded."""
    if choice.source not in ("download", "cache"):
        return choice.path
    key = release_key or hashicorp_release_key()
    want = _record(choice.version, releases_url, key.fingerprint, "")
    os_name, arch = platform_names()
    if choice.source == "cache":
        verify_cached(choice.path, want)  # what was verified, unchanged: only then run it
        reason, _found = proof.why_unfit(choice.path, os_name, arch)
        if reason:
            raise ReleaseError(
                f"the cached Nomad {choice.path} failed its trial: {reason}; "
                f"delete {choice.path.parent} to download it again"
            )
        return choice.path
    try:
        data = download_verified(choice.version, releases_url, key, progress, timeout)
    except ReleaseError as exc:
        passed = "".join(f" ({p})" for p in choice.passed_over)
        raise ReleaseError(f"{exc.message}; {elsewhere_hint(choice)}{passed}") from None
    ensure_private_dir(choice.path.parent)  # and <home>/cache..., each made 0700
    atomic_write(choice.path, data, 0o755)
    reason, _found = proof.why_unfit(choice.path, os_name, arch)
    if reason:
        choice.path.unlink(missing_ok=True)
        raise ReleaseError(f"the downloaded Nomad {choice.version} failed its trial: {reason}")
    record = {**want, "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write(choice.path.with_name(RECORD), json.dumps(record, indent=2).encode(), 0o600)
    progress(f"Nomad {choice.version} saved to {choice.path}")
    return choice.path


def _record(version: str, releases_url: str, fingerprint: str, digest: str) -> dict[str, str]:
    return {
        "version": version,
        "source": releases_url.rstrip("/"),
        "key_fingerprint": fingerprint.upper(),
        "sha256": digest,
    }


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def verify_cached(path: Path, want: dict[str, str]) -> None:
    """The cached binary is what its record says was verified, from this source with this
    key; ReleaseError (one line) otherwise. Neither file may be a symlink."""
    again = f"delete {path.parent} to download it again"
    check_dirs(path.parent, path.parents[5])  # up to the home: ours alone
    try:
        record = json.loads(_read_nofollow(path.with_name(RECORD)))
        data = _read_nofollow(path)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or "unreadable"
        raise ReleaseError(
            f"cached Nomad {path} has no usable record of its verification ({why}): "
            f"not using it; {again}"
        ) from None
    got = hashlib.sha256(data).hexdigest()
    for field, expected in want.items():
        if field != "sha256" and record.get(field) != expected:
            raise ReleaseError(
                f"cached Nomad {path} was verified with {field} {record.get(field)!r}, "
                f"not {expected!r}: not using it; {again}"
            )
    if record.get("sha256") != got:
        raise ReleaseError(
            f"cached Nomad {path} changed since it was verified (sha256 {got}, recorded "
            f"{record.get('sha256')}): not using it; {again}"
        )


def download_verified(
    version: str,
    releases_url: str,
    key: SigningKey,
    progress: Progress,
    timeout: float = 60.0,
) -> bytes:
    """The `nomad` executable from the release zip, after both checks; raises ReleaseError."""
    os_name, arch = platform_names()
    base = f"{releases_url.rstrip('/')}/nomad/{check_version(version)}"
    zip_name = f"nomad_{version}_{os_name}_{arch}.zip"
    sums_name = f"nomad_{version}_SHA256SUMS"
    sums = _get(f"{base}/{sums_name}", timeout)
    sig = _get(f"{base}/{sums_name}.sig", timeout)
    verify_signature(sums, sig, key, sums_name)
    archive = _get(f"{base}/{zip_name}", timeout, progress, f"downloading Nomad {version}")
    check_sum(sums, zip_name, archive)
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            return z.read("nomad")
    except (zipfile.BadZipFile, KeyError):
        raise ReleaseError(f"{zip_name} holds no `nomad` executable") from None


def _get(url: str, timeout: float, progress: Progress | None = None, what: str = "") -> bytes:
    import requests

    try:
        with requests.get(url, stream=True, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise ReleaseError(f"download failed: {url} answered HTTP {resp.status_code}")
            total = int(resp.headers.get("Content-Length") or 0)
            chunks, done, shown = [], 0, -1
            for chunk in resp.iter_content(1 << 16):
                chunks.append(chunk)
                done += len(chunk)
                step = done * 10 // total if total else done >> 23
                if progress is not None and step != shown:
                    shown = step
                    progress(f"{what}: {_mb(done)} of {_mb(total) if total else '?'} MB")
            return b"".join(chunks)
    except requests.RequestException as exc:
        kind = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
        raise ReleaseError(
            f"{url} {kind} ({type(exc).__name__}): check the network or a proxy"
        ) from None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def check_sum(sums: bytes, zip_name: str, data: bytes) -> None:
    want = ""
    for line in sums.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == zip_name:
            want = parts[0].lower()
    got = hashlib.sha256(data).hexdigest()
    if want != got:
        raise ReleaseError(
            f"checksum mismatch for {zip_name} (signed sums say {want or 'nothing'}, "
            f"download is {got}): not using it"
        )


def verify_signature(sums: bytes, sig: bytes, key: SigningKey, sums_name: str) -> None:
    """gpg in a throwaway home: the sums must be signed by `key` (primary fingerprint)."""
    if shutil.which("gpg") is None:
        raise ReleaseError("gpg is needed to check the Nomad release's signature; install gnupg")
    with tempfile.TemporaryDirectory(prefix="nomadctl-gpg-") as tmp:
        home = Path(tmp, "gnupg")
        home.mkdir(mode=0o700)
        Path(tmp, "sums").write_bytes(sums)
        Path(tmp, "sums.sig").write_bytes(sig)
        Path(tmp, "key.asc").write_bytes(key.armored)
        base = ["gpg", "--batch", "--no-tty", "--no-autostart", "--homedir", str(home)]
        env = {**os.environ, "GNUPGHOME": str(home)}
        run = {"capture_output": True, "env": env, "timeout": 60, "check": False}
        subprocess.run([*base, "--quiet", "--import", str(Path(tmp, "key.asc"))], **run)
        res = subprocess.run(
            [*base, "--status-fd", "1", "--verify", f"{tmp}/sums.sig", f"{tmp}/sums"], **run
        )
    signers = [
        line.split()[-1]
        for line in res.stdout.decode(errors="replace").splitlines()
        if line.startswith("[GNUPG:] VALIDSIG ")
    ]
    if key.fingerprint.upper() not in (s.upper() for s in signers):
        raise ReleaseError(
            f"{sums_name} is not signed by the release key {key.fingerprint} "
            "(tampered download or wrong key): not using it"
        )
