"""A throwaway OpenPGP signing key made with real gpg, for mirrors the tests serve.

Everything happens in a GNUPGHOME the caller owns (a temp dir): the machine's keyrings are
never touched. `TestKey.close()` stops the gpg-agent that gpg starts for that home.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


class GpgError(RuntimeError):
    """A gpg command failed."""


def gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run gpg in `home` (batch mode, no tty); return stdout, raise GpgError on failure."""
    env = {**os.environ, "GNUPGHOME": str(home)}
    res = subprocess.run(
        ["gpg", "--batch", "--no-tty", "--quiet", *args],
        input=input,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    if res.returncode != 0:
        raise GpgError(f"gpg {' '.join(args)}: {res.stderr.decode(errors='replace').strip()}")
    return res.stdout


@dataclass(frozen=True)
class TestKey:
    """An ed25519 signing key (no passphrase) in its own GNUPGHOME."""

    __test__ = False

    home: Path
    fingerprint: str  # primary key, 40 hex digits, upper case
    armored: bytes  # the public key, ASCII-armored

    def sign_detached(self, data: Path, out: Path, *, armor: bool = False) -> None:
        """A detached signature of `data` in `out` (binary, as HashiCorp ships .sig files)."""
        args = ["--yes", "--local-user", self.fingerprint, "--output", str(out)]
        gpg(self.home, *args, *(["--armor"] if armor else []), "--detach-sign", str(data))

    def clearsign(self, data: Path, out: Path) -> None:
        """An inline clear-text signature (apt's InRelease)."""
        args = ["--yes", "--local-user", self.fingerprint, "--output", str(out)]
        gpg(self.home, *args, "--digest-algo", "SHA256", "--clearsign", str(data))

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--kill", "all"],
            env={**os.environ, "GNUPGHOME": str(self.home)},
            capture_output=True,
            check=False,
        )


def make_key(home: Path, uid: str = "nomadctl test mirror <mirror@example.invalid>") -> TestKey:
    """Generate a key in `home` (created 0700). Keep `home` short: gpg-agent's socket lives there
    unless /run/user/<uid> exists, and a socket path is limited to ~107 bytes."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    colons = gpg(home, "--with-colons", "--list-keys", uid).decode()
    fprs = [line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:")]
    armored = gpg(home, "--armor", "--export", fprs[0])
    return TestKey(home, fprs[0].upper(), armored)
