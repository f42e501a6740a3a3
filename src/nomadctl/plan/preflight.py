"""Local checks that run before `up` spends anything: every file it will need, read once.

A mistake in a local input (an SSH key that is not there, a CA whose key does not match, a
licence file that cannot be read) must stop `up` before the first AWS call or SSH session,
not after six instances are running. Each check returns problems instead of raising, so that
`--dry-run` can list all of them at once; `require` turns them into one error.

What is checked:
- the workspace CA: certificate and key both present, readable, parseable and matching; the
  CA not expired; a node certificate issued now would not outlive it (Nomad refuses a chain
  whose CA has expired, so the leaf's extra days are a date the cluster stops);
- ``--ssh-key``: a regular, readable file holding a private key (not the ``.pub``) that
  OpenSSH would accept (no group/other permissions);
- ``--nomad-binary`` and ``--license-file``: regular, readable, non-empty files; a binary
  for hosts must be built for Linux, and one this machine can run (a Linux build for this
  CPU, or a script) must say `Nomad v1.8+` here already (it is tried on a host too, before
  any host receives it: `node/proof.py`).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nomadctl.errors import NomadctlError, PkiError, UsageError
from nomadctl.node import proof


@dataclass(frozen=True)
class Problem:
    """One thing that would make `up` fail, named by the flag or file it comes from."""

    what: str
    message: str
    error: type[NomadctlError] = UsageError

    def text(self) -> str:
        return f"{self.what}: {self.message}"


@dataclass(frozen=True)
class LocalInputs:
    """The local files `up` will read. ``None`` means the input is not used by this run."""

    ca_cert: Path | None = None
    ca_key: Path | None = None
    leaf_days: int = 365
    ssh_key: Path | None = None
    nomad_binary: Path | None = None
    license_file: Path | None = None
    binary_for_hosts: bool = False  # the binary is uploaded (not run here by local agents)


def _regular_file(path: Path, what: str) -> Problem | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return Problem(what, f"{path} does not exist")
    except OSError as e:
        return Problem(what, f"{path} cannot be read ({e.strerror or e})")
    if not stat.S_ISREG(st.st_mode):
        return Problem(what, f"{path} is not a regular file")
    if not os.access(path, os.R_OK):
        return Problem(what, f"{path} is not readable by this user")
    if st.st_size == 0:
        return Problem(what, f"{path} is empty")
    return None


def check_ca(cert_path: Path, key_path: Path, leaf_days: int) -> list[Problem]:
    """The CA pair: present together, parseable, matching, and not expiring before a new leaf."""
    from nomadctl.pki import issue

    have_cert, have_key = cert_path.exists(), key_path.exists()
    if not have_cert and not have_key:
        return []  # `up` makes a new CA
    if have_cert != have_key:
        missing = key_path if have_cert else cert_path
        return [Problem("CA", f"{missing} is missing; restore it or run `nomadctl certs`")]
    for path in (cert_path, key_path):
        if problem := _regular_file(path, "CA"):
            return [problem]
    try:
        cert = issue.load_cert(cert_path)
        key = issue.load_key(key_path)
    except PkiError as e:
        return [Problem("CA", e.message, PkiError)]
    if not issue.key_matches(cert, key):
        return [Problem("CA", f"{key_path.name} is not the key of {cert_path.name}", PkiError)]
    now = dt.datetime.now(dt.UTC)
    expires = cert.not_valid_after_utc
    if expires <= now:
        msg = f"expired on {expires:%Y-%m-%d}; rotate it with `nomadctl certs --rotate-ca`"
        return [Problem("CA", msg, PkiError)]
    leaf_end = now + dt.timedelta(days=leaf_days)
    if leaf_end > expires:
        days_left = (expires - now).days
        return [
            Problem(
                "CA",
                f"expires on {expires:%Y-%m-%d} ({days_left} days), before node certificates "
                f"of {leaf_days} days would; rotate the CA or issue shorter certificates",
                PkiError,
            )
        ]
    return []


def check_ssh_key(path: Path) -> list[Problem]:
    """A private key OpenSSH and paramiko would use: readable, not world-readable, not a .pub."""
    if problem := _regular_file(path, "--ssh-key"):
        return [problem]
    head = path.read_bytes()[:200]
    if head.startswith((b"ssh-", b"ecdsa-", b"sk-")):
        return [Problem("--ssh-key", f"{path} is a public key; give the private key file")]
    if b"PRIVATE KEY" not in head:
        return [Problem("--ssh-key", f"{path} is not a PEM or OpenSSH private key")]
    if path.stat().st_mode & 0o077:
        mode = stat.S_IMODE(path.stat().st_mode)
        return [
            Problem(
                "--ssh-key",
                f"{path} has mode {mode:04o}; ssh refuses keys others can read (chmod 600 it)",
            )
        ]
    return []


def check_host_binary(path: Path) -> list[Problem]:
    """A binary for Linux hosts: refused when built for another OS, or when this machine can
    run it and it is not a supported Nomad (its trial on a host comes later)."""
    built = proof.built_for(proof.read_head(path))
    if built.os not in ("linux", "script"):
        return [Problem("--nomad-binary", f"{path} is {built.text()}; hosts need a Linux build")]
    here = proof.ARCHES.get(os.uname().machine.lower(), "")
    if not sys.platform.startswith("linux") or (built.os == "linux" and built.arch != here):
        return []  # tried on a host of its architecture before any upload
    reason, _version = proof.why_unfit(path, "linux", here)
    return [Problem("--nomad-binary", f"{path}: {reason}")] if reason else []


def check(inputs: LocalInputs) -> list[Problem]:
    """Every problem with the local inputs, in the order a user would fix them."""
    problems: list[Problem] = []
    if inputs.ca_cert is not None and inputs.ca_key is not None:
        problems += check_ca(inputs.ca_cert, inputs.ca_key, inputs.leaf_days)
    if inputs.ssh_key is not None:
        problems += check_ssh_key(inputs.ssh_key)
    files = ((inputs.nomad_binary, "--nomad-binary"), (inputs.license_file, "--license-file"))
    for path, what in files:
        if path is not None and (problem := _regular_file(path, what)):
            problems.append(problem)
        elif path is not None and path == inputs.nomad_binary and inputs.binary_for_hosts:
            problems += check_host_binary(path)
    return problems


def require(problems: Sequence[Problem]) -> None:
    """Raise one error naming the first problem (and how many more there are)."""
    if not problems:
        return
    first, rest = problems[0], len(problems) - 1
    more = f" (and {rest} more problem(s); `--dry-run` lists them all)" if rest else ""
    raise first.error(first.text() + more)
