"""The cluster directory: modes, atomic writes, state.json checks and the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nomadctl.errors import UsageError, WorkspaceError
from nomadctl.workspace import Workspace, atomic_write, validate_cluster_name


def test_modes_and_atomic_write(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home", "lab").create()
    assert (tmp_path / "home").stat().st_mode & 0o777 == 0o700
    secret = ws.path / "tokens" / "management.json"
    ws.write_secret(secret, b"s3cret")
    assert secret.read_bytes() == b"s3cret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.parent.stat().st_mode & 0o777 == 0o700
    ws.write_public(ws.path / "ca.pem", b"cert")
    assert (ws.path / "ca.pem").stat().st_mode & 0o777 == 0o644
    # A loose directory made by someone else is tightened.
    os.chmod(ws.path, 0o755)
    ws.create()
    assert ws.path.stat().st_mode & 0o777 == 0o700


def test_failed_write_keeps_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "d" / "f"
    atomic_write(target, b"old", 0o600)
    in_the_way = target.parent / "dir-in-the-way"
    in_the_way.mkdir()
    with pytest.raises(WorkspaceError, match="cannot write"):
        atomic_write(in_the_way, b"new", 0o600)  # renaming a file over a directory fails
    assert target.read_bytes() == b"old"
    assert {p.name for p in target.parent.iterdir()} == {"f", "dir-in-the-way"}


def test_state_round_trip_and_corruption(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, "lab").create()
    assert ws.load_state()["cluster"] == "lab"
    ws.update_state(vpc_id="vpc-1")
    ws.update_state(subnet_id="subnet-2")
    state = ws.load_state()
    assert state["vpc_id"] == "vpc-1" and state["subnet_id"] == "subnet-2"
    assert ws.state_path.stat().st_mode & 0o777 == 0o600

    ws.state_path.write_text("{not json")
    with pytest.raises(WorkspaceError, match="not valid JSON"):
        ws.load_state()
    ws.state_path.write_text('{"version": 1, "cluster": "other"}')
    with pytest.raises(WorkspaceError, match="does not belong"):
        ws.load_state()
    ws.state_path.write_text('{"version": 99, "cluster": "lab"}')
    with pytest.raises(WorkspaceError, match="state version"):
        ws.load_state()


def test_lock_excludes_a_second_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from nomadctl.workspace import Workspace\n"
            f"with Workspace({str(tmp_path)!r}, 'lab').locked():\n"
            "    print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        busy = rf"busy: another nomadctl \(pid {holder.pid}\)"
        with pytest.raises(WorkspaceError, match=busy), Workspace(tmp_path, "lab").locked():
            pass
        # Another cluster is not affected.
        with Workspace(tmp_path, "other").locked():
            pass
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nomadctl",
                "--home",
                str(tmp_path),
                "--cluster",
                "lab",
                "certs",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 3 and "is busy" in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    with Workspace(tmp_path, "lab").locked():  # released when the holder died
        assert time.monotonic() < deadline


@pytest.mark.parametrize("name", ["nomad", "a", "lab-1", "x" * 32])
def test_good_names(name: str) -> None:
    assert validate_cluster_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "A", "a_b", "a.b", "x" * 33, "a b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError):
        validate_cluster_name(name)
