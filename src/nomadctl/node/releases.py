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
"""

from __future__ import annotations

import hashlib
import io
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
from nomadctl.node.release_keys import SigningKey, hashicorp_release_key
from nomadctl.workspace import atomic_write, ensure_private_dir

Progress = Callable[[str], None]
MIN_VERSION = proof.MIN_VERSION
RELEASES_URL = "https://releases.hashicorp.com"
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
    if not re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?(\+ent)?", version):
        raise ReleaseError(f"Nomad version {version!r} is not a release version like 1.11.1")
    return version


def cache_path(home: Path, version: str) -> Path:
    os_name, arch = platform_names()
    return Path(home) / "cache" / "nomad" / check_version(version) / f"{os_name}_{arch}" / "nomad"


def choose(home: Path, version: str, nomad_binary: Path | None = None) -> BinaryChoice:
    """Which binary to run, without any download (the plan shows this). A given binary that
    fails its proof is refused here, before anything is written."""
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
    cached = cache_path(home, version)
    if cached.is_file() and os.access(cached, os.X_OK):
        reason, found = proof.why_unfit(cached, os_name, arch)
        if reason is None:
            return BinaryChoice(cached, "cache", found or version, tuple(passed))
        passed.append(f"the cached {cached} passed over: {reason}")
    return BinaryChoice(cached, "download", version, tuple(passed))


def elsewhere_hint(choice: BinaryChoice) -> str:
    """Where a binary fetched on another machine goes, so that `up --local` finds it."""
    os_name, arch = platform_names()
    return (
        f"or copy `nomad` from nomad_{choice.version}_{os_name}_{arch}.zip (fetched elsewhere) "
        f"to {choice.path} and chmod +x it, put a Nomad {proof.min_text()}+ `nomad` on PATH, "
        "or pass --nomad-binary PATH (or --releases-url URL, a mirror)"
    )


def ensure(
    choice: BinaryChoice,
    progress: Progress,
    releases_url: str = RELEASES_URL,
    release_key: SigningKey | None = None,
    timeout: float = 60.0,
) -> Path:
    """The chosen binary's path, downloading and verifying it first when it is not cached."""
    if choice.source != "download":
        return choice.path
    key = release_key or hashicorp_release_key()
    try:
        data = download_verified(choice.version, releases_url, key, progress, timeout)
    except ReleaseError as exc:
        passed = "".join(f" ({p})" for p in choice.passed_over)
        raise ReleaseError(f"{exc.message}; {elsewhere_hint(choice)}{passed}") from None
    ensure_private_dir(choice.path.parent.parent.parent.parent)  # <home>/cache
    choice.path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(choice.path, data, 0o755)
    os_name, arch = platform_names()
    reason, _found = proof.why_unfit(choice.path, os_name, arch)
    if reason:
        choice.path.unlink(missing_ok=True)
        raise ReleaseError(f"the downloaded Nomad {choice.version} failed its trial: {reason}")
    progress(f"Nomad {choice.version} saved to {choice.path}")
    return choice.path


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
