"""Issue 29 point 5: what the prompt showed is what runs. The workspace lock is held from
reading the plan to the end of the run, the confirmation prompt included; another nomadctl
meanwhile is told the cluster is busy (one line, exit 3) and changes nothing.

A local cluster (the stand-in as the binary) of one server and one client; `up --clients 0`
asks before it drains and removes the client, on a real pseudo-terminal. While that question
is on the screen, a second `up` and an `acl-bootstrap` are refused."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary
from tests.terminal import ANSI

CLUSTER = "lk"


def env_for(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args]


def nomadctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv(*args), capture_output=True, text=True, env=env_for(home), timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def cluster(tmp_path):
    home, binary = tmp_path / "home", make_binary(tmp_path / "bin" / "nomad")
    try:
        yield home, binary
    finally:
        nomadctl(home, "down", "--yes")


def read_until(master: int, text: str, proc: subprocess.Popen) -> str:
    """What the terminal showed up to `text` (the child writing it is the sync point)."""
    seen = b""
    while text not in ANSI.sub("", seen.decode(errors="replace")):
        assert proc.poll() is None, f"ended before showing {text!r}: {seen[-400:]!r}"
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            seen += os.read(master, 65536)
    return ANSI.sub("", seen.decode(errors="replace"))


def test_the_lock_is_held_while_the_prompt_is_shown(cluster) -> None:
    home, binary = cluster
    base = ["up", "--local", "--nomad-binary", str(binary), "--servers", "1"]
    first = nomadctl(home, *base, "--clients", "1")
    assert first.returncode == 0, first.stderr

    master, slave = pty.openpty()
    asking = subprocess.Popen(
        argv(*base, "--clients", "0"), stdin=slave, stderr=slave, stdout=subprocess.PIPE,
        env=env_for(home),
    )  # fmt: skip
    os.close(slave)
    try:
        read_until(master, "Drain and remove", asking)
        for other in ([*base, "--clients", "2"], ["acl-bootstrap"]):
            busy = nomadctl(home, *other)
            assert busy.returncode == 3, (other, busy.stdout, busy.stderr)
            line = busy.stderr.strip()
            assert "\n" not in line and "is busy" in line and f"pid {asking.pid}" in line, line
        os.write(master, b"n\n")
        asking.wait(60)
    finally:
        if asking.poll() is None:
            asking.kill()
            asking.wait()
        os.close(master)
    assert asking.returncode != 0  # answered no: nothing removed
    status = nomadctl(home, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert len(list((home / CLUSTER / "local").iterdir())) == 2  # the client is still there
