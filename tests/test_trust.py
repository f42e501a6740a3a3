"""Issue 28 point 3: the workspace trusts only its owner (OpenSSH's StrictModes as the
model). The cluster directory, every directory above it up to --home and every file
nomadctl reads or deletes must be the user's (or root's), writable by no one else, and not a
symlink; otherwise one line, exit 3, nothing read, written or deleted. Each test failed on
the main of 2026-12-07 (b311992): a world-writable or foreign home was used as it was, a
symlinked `local/` sent `down`'s removal into the directory it pointed to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nomadctl import trust
from nomadctl.errors import WorkspaceError
from nomadctl.workspace import Workspace
from tests.standin import make_binary

STRANGER = 12345  # a uid that is not ours (the tests run as root; root is trusted)
TREE = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}


def nomadctl(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", "--home", str(home), "--cluster", "tr", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home.parent), **TREE},
    )  # fmt: skip


def made(tmp_path: Path) -> Workspace:
    home = tmp_path / "home"
    ws = Workspace(home, "tr").create()
    ws.save_state({"provider": "static"})
    return ws


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777, 0o722])
def test_a_home_others_may_write_is_refused_before_anything_is_written(
    tmp_path: Path, mode: int
) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    home.chmod(mode)
    proc = nomadctl(home, "certs")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "writable by group or others" in proc.stderr
    assert list(home.iterdir()) == []  # no CA key handed to whoever else can write there


@pytest.mark.parametrize("what", ["home", "cluster", "certificates", "state"])
def test_something_owned_by_another_user_is_refused(tmp_path: Path, what: str) -> None:
    ws = made(tmp_path)
    target = {
        "home": ws.home,
        "cluster": ws.path,
        "certificates": ws.certs_dir,
        "state": ws.state_path,
    }[what]
    target.mkdir(exist_ok=True) if what == "certificates" else None
    os.chown(target, STRANGER, STRANGER)
    with pytest.raises(WorkspaceError, match=f"owned by uid {STRANGER}") as err:
        ws.verify()
    assert err.value.exit_code == 3
    proc = nomadctl(ws.home, "status")
    assert proc.returncode == 3 and f"uid {STRANGER}" in proc.stderr, proc.stderr


def test_a_planted_state_json_symlink_is_not_read(tmp_path: Path) -> None:
    ws = made(tmp_path)
    planted = tmp_path / "planted.json"
    planted.write_text('{"version": 1, "cluster": "tr", "provider": "local"}')
    ws.state_path.unlink()
    ws.state_path.symlink_to(planted)
    with pytest.raises(WorkspaceError, match="is a symbolic link"):
        ws.load_state()  # O_NOFOLLOW, even without the walk
    for args in (["status"], ["up", "--dry-run"], ["down", "--yes"]):
        proc = nomadctl(ws.home, *args)
        assert proc.returncode == 3 and "symbolic link" in proc.stderr, (args, proc.stderr)
    assert planted.read_text().startswith('{"version": 1')


def test_a_group_writable_file_is_refused(tmp_path: Path) -> None:
    ws = made(tmp_path)
    ws.state_path.chmod(0o660)
    with pytest.raises(WorkspaceError, match="mode 0660"):
        ws.read_bytes(ws.state_path)


def test_remove_tree_only_inside_verified_directories(tmp_path: Path) -> None:
    ws = made(tmp_path)
    victim = tmp_path / "victim"
    (victim / "server-1").mkdir(parents=True)
    (victim / "server-1" / "precious").write_text("keep me")
    (ws.path / "local").symlink_to(victim)
    with pytest.raises(WorkspaceError, match="local is a symbolic link"):
        trust.remove_tree(ws.path / "local" / "server-1", ws.home)
    assert (victim / "server-1" / "precious").read_text() == "keep me"
    with pytest.raises(WorkspaceError, match="top of the workspace"):
        trust.remove_tree(ws.home, ws.home)


def agent_pids(binary: Path) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(binary).encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_a_symlinked_local_dir_is_refused_and_its_target_survives_down(tmp_path: Path) -> None:
    """The issue's case: a local cluster whose `local/` was swapped for a symlink to another
    directory. `down` refuses (exit 3) and neither the directory it points to nor the agent
    is touched; put back, `down` works."""
    home, binary = tmp_path / "home", make_binary(tmp_path / "bin" / "nomad")
    try:
        up = nomadctl(home, "up", "--local", "--servers", "1", "--clients", "0",
                      "--nomad-binary", str(binary), "--no-acl-bootstrap")  # fmt: skip
        assert up.returncode == 0, up.stderr
        local, moved = home / "tr" / "local", tmp_path / "elsewhere"
        local.rename(moved)
        local.symlink_to(moved)
        before = sorted(str(p.relative_to(moved)) for p in moved.rglob("*"))
        down = nomadctl(home, "down", "--yes")
        assert down.returncode == 3, down.stderr
        assert f"{local} is a symbolic link" in down.stderr
        assert sorted(str(p.relative_to(moved)) for p in moved.rglob("*")) == before
        assert agent_pids(binary)  # nothing stopped either
        local.unlink()
        moved.rename(local)
        down = nomadctl(home, "down", "--yes")
        assert down.returncode == 0, down.stderr
        assert not agent_pids(binary)
    finally:
        for pid in agent_pids(binary):
            os.kill(pid, signal.SIGKILL)


def test_keys_certificates_pid_files_and_logs_are_read_without_following_links(
    tmp_path: Path,
) -> None:
    """Below the command's own check, each read of a workspace file is O_NOFOLLOW."""
    from nomadctl.pki import issue
    from nomadctl.providers import logs
    from nomadctl.providers.local import proc

    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("123\n")
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    for read in (issue.load_key, issue.load_cert, lambda p: logs.tail(p, 5)):
        with pytest.raises(WorkspaceError, match="is a symbolic link"):
            read(link)
    node = proc.NodeDir(tmp_path / "local" / "server-1")
    node.make()
    node.pid_file.symlink_to(elsewhere)
    with pytest.raises(WorkspaceError, match="is a symbolic link"):
        proc.running_pid(node)
