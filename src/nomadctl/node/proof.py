"""A Nomad binary proven before it is used: it runs, says `Nomad vX`, is a supported
release, and is built for the machine that will run it.

What a file is built for is read from its first bytes (no tool needed): ELF (Linux; the
machine field gives the CPU), Mach-O (macOS), PE (Windows). A script (`#!`) runs anywhere
its interpreter does, so only running it proves it. `fit` says why a file is unfit, in words
a user can act on; `prove` runs it here. For hosts, `Prover` runs it on one host of each
architecture before any host receives it (issue 29 point 6): the first host of an
architecture proves it, the others of the same architecture wait for that answer, and a
failed proof stops every host that has not uploaded yet.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nomadctl.errors import RemoteError

MIN_VERSION = (1, 8)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_ELF_MACHINES = {0x3E: "amd64", 0xB7: "arm64", 0x03: "386", 0x28: "arm"}
_MACHO_CPUS = {0x01000007: "amd64", 0x0100000C: "arm64", 7: "386"}
_VERSION = re.compile(r"Nomad v(\d+\.\d+\.\d+\S*)")


@dataclass(frozen=True)
class Built:
    """What a file is built for: os "linux" | "darwin" | "windows" | "script" | "unknown"."""

    os: str
    arch: str = ""

    def text(self) -> str:
        if self.os == "script":
            return "a script"
        if self.os == "unknown":
            return "not an executable nomadctl recognises"
        return f"built for {self.os}/{self.arch or '?'}"


def built_for(head: bytes) -> Built:
    """What the file starting with `head` (its first 64 bytes) runs on."""
    if head.startswith(b"#!"):
        return Built("script")
    if head.startswith(b"\x7fELF") and len(head) >= 20:
        order = "little" if head[5] == 1 else "big"
        machine = int.from_bytes(head[18:20], order)  # type: ignore[arg-type]
        os_name = "freebsd" if head[7] == 9 else "linux"  # EI_OSABI: Go's linux builds say 0
        return Built(os_name, _ELF_MACHINES.get(machine, f"machine {machine:#x}"))
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe") and len(head) >= 8:
        cpu = int.from_bytes(head[4:8], "little")
        return Built("darwin", _MACHO_CPUS.get(cpu, f"cpu {cpu:#x}"))
    if head[:4] == b"\xca\xfe\xba\xbe":
        return Built("darwin", "universal")
    if head.startswith(b"MZ"):
        return Built("windows", "")
    return Built("unknown")


def read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(64)
    except OSError:
        return b""


def version_in(output: str) -> str | None:
    """The version in `nomad version`'s first line ("1.11.1", "1.9.3+ent"), or None."""
    m = _VERSION.match(output.strip())
    return m.group(1) if m else None


def supported(version: str | None) -> bool:
    m = re.match(r"(\d+)\.(\d+)", version or "")
    return m is not None and (int(m.group(1)), int(m.group(2))) >= MIN_VERSION


def min_text() -> str:
    return ".".join(map(str, MIN_VERSION))


def unfit_platform(built: Built, os_name: str, arch: str) -> str | None:
    """Why a file built so cannot run on os/arch, or None when it may."""
    if built.os in ("script",):
        return None
    if built.os == "unknown":
        return built.text()
    if built.os != os_name or (built.arch != arch and built.arch != "universal"):
        return f"{built.text()}, this machine is {os_name}/{arch}"
    return None


def unfit_version(version: str | None, said: str) -> str | None:
    """Why `version` (None: the output `said` names none) is not one nomadctl runs."""
    if version is None:
        first = said.strip().splitlines()[0][:80] if said.strip() else "nothing"
        return f"not Nomad (`version` printed {first!r})"
    if not supported(version):
        return f"Nomad {version}, older than {min_text()} (the oldest nomadctl supports)"
    return None


def run_version(path: Path, timeout: float = 15.0) -> tuple[int | None, str]:
    """`path version`: (exit code or None when it could not run, what it printed)."""
    try:
        done = subprocess.run(
            [str(path), "version"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"`version` did not answer within {timeout:.0f}s"
    except OSError as exc:
        return None, f"does not run here ({exc.strerror or exc})"
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def why_unfit(path: Path, os_name: str, arch: str) -> tuple[str | None, str]:
    """(why `path` cannot be this machine's Nomad or None, its version or "")."""
    head = read_head(path)
    if not head:
        return "cannot be read", ""
    if reason := unfit_platform(built_for(head), os_name, arch):
        return reason, ""
    code, said = run_version(path)
    if code is None:
        return said, ""
    version = version_in(said)
    if code != 0 and version is None:
        return f"`version` failed (exit {code}): {said.strip()[:80] or 'no output'}", ""
    return unfit_version(version, said), version or ""


# ---- on hosts ----------------------------------------------------------------------------

# The binary, on stdin, to a private temporary file, run once, removed: nothing else is touched.
REMOTE_PROOF = """\
set -u
echo "arch $(uname -m)"
t=$(mktemp /tmp/nomadctl-proof.XXXXXX) || exit 1
trap 'rm -f "$t"' EXIT
cat > "$t" && chmod 0700 "$t"
out=$("$t" version 2>&1); rc=$?
echo "rc $rc"
printf '%s\\n' "$out" | head -n 3
"""


@dataclass
class Prover:
    """Proves one binary on one host of each architecture, for a fleet configured in parallel.

    `run(host_name, arch, script, stdin)` runs a script as root on that host and returns
    (exit code, stdout). The first host of an architecture proves; the others wait for it."""

    binary: bytes
    built: Built = field(init=False)
    proven: dict[str, str] = field(default_factory=dict)  # arch -> version
    failure: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: dict[str, threading.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.built = built_for(self.binary[:64])

    def check(self, host: str, machine: str, run: Callable[[str, bytes], tuple[int, str]]) -> str:
        """The binary's version once proven for `machine` (uname -m); RemoteError if not."""
        arch = ARCHES.get(machine, machine)
        with self._lock:
            if self.failure is not None:
                raise RemoteError(f"not configured: {self.failure}")
            if arch in self.proven:
                return self.proven[arch]
            event = self._pending.get(arch)
            mine = event is None
            if mine:
                event = self._pending[arch] = threading.Event()
        assert event is not None
        if not mine:
            event.wait()
            return self.check(host, machine, run)
        try:
            version = self._prove(host, arch, run)
        except RemoteError as exc:
            with self._lock:
                self.failure = exc.message
            raise
        finally:
            event.set()
        with self._lock:
            self.proven[arch] = version
        return version

    def _prove(self, host: str, arch: str, run: Callable[[str, bytes], tuple[int, str]]) -> str:
        what = "the Nomad binary (--nomad-binary)"
        if reason := unfit_platform(self.built, "linux", arch):
            reason = reason.replace("this machine", f"{host}")
            raise RemoteError(f"{what} does not fit {host}: {reason}; nothing was uploaded")
        code, out = run(REMOTE_PROOF, self.binary)
        lines = out.splitlines()
        rc = next((ln[3:].strip() for ln in lines if ln.startswith("rc ")), "")
        said = "\n".join(ln for ln in lines if not ln.startswith(("arch ", "rc ")))
        version = version_in(said)
        if code != 0 or not rc:
            reason: str | None = f"could not be tried ({out.strip()[-120:] or f'exit {code}'})"
        elif rc != "0":
            reason = f"`version` failed (exit {rc}): {said.strip()[:80] or 'no output'}"
        else:
            reason = unfit_version(version, said)
        if reason is not None or version is None:
            raise RemoteError(f"{what} failed its trial on {host}: {reason}; no agent was changed")
        return version
