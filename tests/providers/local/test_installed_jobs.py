"""The sample jobs ship with the package (issue 26 point 9): a nomadctl installed outside a
checkout (here: the package tree copied alone, as a wheel installs it) still finds
examples/jobs and names the ones the local clients can run.

Real parts: the CLI as a process from the copied package, `up --local --dry-run`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nomadctl
from nomadctl.providers.local.provider import drivers
from tests.standin import make_binary

CHECKOUT = Path(nomadctl.__file__).resolve().parents[2]


def test_an_installed_package_finds_the_sample_jobs(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    shutil.copytree(Path(nomadctl.__file__).parent, site / "nomadctl", symlinks=False)
    shipped = sorted(p.name for p in (site / "nomadctl" / "jobs").glob("*.nomad.hcl"))
    assert shipped == sorted(p.name for p in (CHECKOUT / "examples" / "jobs").glob("*.hcl"))
    binary = make_binary(tmp_path / "bin" / "nomad")
    env = {"PATH": "/usr/bin:/bin", "NOMADCTL_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(site)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "nomadctl", "up", "--local", "--dry-run", "--json",
         "--nomad-binary", str(binary)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    configure = next(s for s in json.loads(proc.stdout)["steps"] if s["name"] == "configure")
    if not drivers():  # no Docker, not root: no job can run, and the plan says so
        assert "no sample job will run" in configure["detail"]
        return
    assert "sample jobs that run: " in configure["detail"]
    assert "none of examples/jobs" not in configure["detail"], configure["detail"]
    assert os.geteuid() != 0 or "exec.nomad.hcl" in configure["detail"]
