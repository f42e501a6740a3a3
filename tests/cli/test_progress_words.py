"""Progress and errors that read right (issue 26 point 6): a step that did not do its job shows
✗, not ✓; counts are true; identical reasons from several hosts fold into one with the host
names; every host's whole error is in --json and, with NOMADCTL_DEBUG=1, on stderr. Also
`down --dry-run --json` says `"dry_run": true` (point 9).

Real parts: `up --local` as a process; the stand-in as the agents' binary, behind a wrapper
that makes the clients' (or the server's) agent fail to start with one error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary

REASON = "==> Error starting agent: client setup failed: no space left on device"


def nomadctl(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **extra,
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", "pw", *args],
        capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def failing(tmp: Path, role: str) -> Path:
    """A `nomad` whose agents of `role` fail to start with REASON; the rest is the stand-in."""
    good = make_binary(tmp / "good" / "nomad")
    wrapper = tmp / role / "nomad"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\ncase "$*" in *-{role}-*) echo "{REASON}" >&2; exit 1;; esac\n'
        f'exec {good} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "home"
    yield home
    nomadctl(home, "down", "--yes")


def test_failed_clients_fold_into_one_reason_with_a_cross(home: Path, tmp_path: Path) -> None:
    binary = failing(tmp_path, "client")
    up = nomadctl(home, "up", "--local", "--servers", "1", "--clients", "2",
                  "--nomad-binary", str(binary), NOMADCTL_DEBUG="1")  # fmt: skip
    assert up.returncode == 6, up.stderr
    lines = up.stderr.splitlines()
    assert "✗ configure: 1 of 3 node(s) configured, 2 failed" in lines
    assert not any(line.startswith("✓ configure") for line in lines)
    error = lines[-1]
    assert error.startswith("error: 2 of 3 host(s) failed: the agent exited (see ")
    assert error.count(REASON) == 1, error  # said once, for both
    assert f"/pw/local/<node>/nomad.log): {REASON} (pw-client-1, pw-client-2); " in error
    assert "the other one is configured" in error
    for n in (1, 2):  # NOMADCTL_DEBUG=1: each host's whole error
        assert f"failed: pw-client-{n}: the agent exited (see {home}/pw/local/pw-client-{n}/" in (
            up.stderr
        )

    again = nomadctl(home, "up", "--json")
    assert again.returncode == 6
    report = json.loads(again.stdout)
    errors = {h["name"]: h["error"] for h in report["hosts"] if h["status"] == "failed"}
    assert set(errors) == {"pw-client-1", "pw-client-2"}
    assert all(REASON in e and f"/{n}/nomad.log" in e for n, e in errors.items())
    configure = next(s for s in report["steps"] if s["name"] == "configure")
    assert configure["status"] == "failed"

    dry = nomadctl(home, "down", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True


def test_a_failed_server_is_no_green_leader(home: Path, tmp_path: Path) -> None:
    binary = failing(tmp_path, "server")
    up = nomadctl(home, "up", "--local", "--servers", "1", "--clients", "1",
                  "--nomad-binary", str(binary))  # fmt: skip
    assert up.returncode == 6, up.stderr
    lines = up.stderr.splitlines()
    assert "✗ leader: not waited for: pw-server-1 failed to configure" in lines
    assert "✗ acl bootstrap: not bootstrapped: a node failed to configure" in lines
    assert not any(line.startswith(("✓ leader", "✓ acl")) for line in lines)
