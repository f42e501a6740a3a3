"""`up --local` finds and proves its Nomad binary before it writes anything (issue 26 point 2,
issue 29 point 6): offline with no binary it stops with nothing written and says where a
binary fetched elsewhere goes; a `nomad` on PATH that is passed over is named with the reason;
a given binary that is not Nomad, too old or for another OS is refused before any certificate.

Real parts: the CLI as a process, the stand-in as `nomad`, a release URL on a closed
loopback port (offline), this machine's `true` as a binary that is not Nomad."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nomadctl.node import releases
from tests.standin import make_binary

OFFLINE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


def nomadctl(home: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path,
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", "bf", *args],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def written(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*")) if home.exists() else []


def test_offline_without_a_binary_writes_nothing_and_says_what_to_pass(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = make_binary(tmp_path / "old" / "nomad", version="1.6.2")
    proc = nomadctl(home, f"{old.parent}:/usr/bin:/bin", "up", "--local", "--yes",
                    "--releases-url", OFFLINE)  # fmt: skip
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("error: "), err  # one line
    os_name, arch = releases.platform_names()
    # Not "copy it into the cache": a cached file without its verification record is refused.
    assert f"nomad_1.11.1_{os_name}_{arch}.zip (fetched elsewhere) and pass --nomad-binary" in err
    assert f"`nomad` on PATH ({old}) passed over: Nomad 1.6.2, older than 1.8" in err
    assert "certificates" not in proc.stdout and "made so far" not in proc.stdout + err
    assert written(home) == []  # no CA, no state.json, no workspace


@pytest.mark.parametrize("kind", ["true", "old", "mac"])
def test_a_given_binary_that_fails_its_proof_is_refused_before_anything(
    tmp_path: Path, kind: str
) -> None:
    home, given = tmp_path / "home", tmp_path / kind / "nomad"
    given.parent.mkdir()
    if kind == "true":
        shutil.copy(shutil.which("true") or "/bin/true", given)
        why = "not Nomad (`version` printed 'nothing')"
    elif kind == "old":
        make_binary(given, version="1.7.7")
        why = "Nomad 1.7.7, older than 1.8"
    else:
        given.write_bytes(b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01" + bytes(56))
        given.chmod(0o755)
        why = "built for darwin/arm64, this machine is linux/"
    proc = nomadctl(home, "/usr/bin:/bin", "up", "--local", "--yes", "--nomad-binary", str(given))
    assert proc.returncode != 0
    assert f"--nomad-binary {given}: {why}" in proc.stderr, proc.stderr
    assert written(home) == []


def test_dry_run_names_the_nomad_passed_over(tmp_path: Path) -> None:
    home = tmp_path / "home"
    true_dir = tmp_path / "t"
    true_dir.mkdir()
    shutil.copy(shutil.which("true") or "/bin/true", true_dir / "nomad")
    proc = nomadctl(home, f"{true_dir}:/usr/bin:/bin", "up", "--local", "--dry-run", "--json",
                    "--releases-url", OFFLINE)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert f"`nomad` on PATH ({true_dir / 'nomad'}) passed over: not Nomad" in " ".join(
        plan["warnings"]
    )
    assert written(home) == []
