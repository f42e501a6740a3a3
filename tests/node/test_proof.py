"""node/proof.py: what a binary is built for (from its first bytes), and why one is unfit.

Real files: this machine's own ELF executables, the stand-in (a script), a Mach-O header."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from nomadctl.errors import RemoteError
from nomadctl.node import proof, releases
from tests.standin import make_binary

MACHO_ARM64 = b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01" + bytes(56)


def test_built_for_reads_elf_macho_pe_and_scripts() -> None:
    here = proof.built_for(Path(sys.executable).resolve().read_bytes()[:64])
    assert (here.os, here.arch) == releases.platform_names()
    assert proof.built_for(MACHO_ARM64) == proof.Built("darwin", "arm64")
    assert proof.built_for(b"MZ\x90\x00").os == "windows"
    assert proof.built_for(b"#!/usr/bin/env python3\n").os == "script"
    assert proof.built_for(b"hello").os == "unknown"


def test_why_unfit_names_each_reason(tmp_path: Path) -> None:
    os_name, arch = releases.platform_names()
    good = make_binary(tmp_path / "good" / "nomad", version="1.9.3")
    assert proof.why_unfit(good, os_name, arch) == (None, "1.9.3")
    old = make_binary(tmp_path / "old" / "nomad", version="1.6.2")
    assert proof.why_unfit(old, os_name, arch)[0] == (
        "Nomad 1.6.2, older than 1.8 (the oldest nomadctl supports)"
    )
    true = tmp_path / "true"
    shutil.copy(shutil.which("true") or "/bin/true", true)
    assert proof.why_unfit(true, os_name, arch)[0] == "not Nomad (`version` printed 'nothing')"
    mac = tmp_path / "mac"
    mac.write_bytes(MACHO_ARM64)
    mac.chmod(0o755)
    assert proof.why_unfit(mac, os_name, arch)[0] == (
        f"built for darwin/arm64, this machine is {os_name}/{arch}"
    )


def test_prover_refuses_a_foreign_build_without_running_anything() -> None:
    ran: list[str] = []
    prover = proof.Prover(MACHO_ARM64)
    with pytest.raises(RemoteError, match="built for darwin/arm64, node-1 is linux/amd64"):
        prover.check("node-1", "x86_64", lambda script, data: (ran.append(script), (0, ""))[1])
    assert ran == []
    with pytest.raises(RemoteError, match="not configured: the Nomad binary"):
        prover.check("node-2", "x86_64", lambda script, data: (0, ""))
