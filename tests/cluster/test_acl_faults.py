"""Issue 29 point 1: no ACL secret exists only on the cluster.

Local agents (the stand-in as the binary), one server, through the CLI as a user runs it:
- `up` SIGKILLed the instant the cluster has applied the bootstrap (the stand-in holds its
  answer at that point): the re-run finishes with the secret written ahead, exit 0;
- the token file cannot be written (a full tmpfs, a read-only mount): one line, exit 3, and
  the bootstrap request is never sent (a later `up` bootstraps with its own secret);
- a lost management token: `acl-bootstrap --reset` works on local agents (the reset index
  written into the servers' data dirs) and the old token is revoked;
- a lost user token is revoked when a new one is made.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nomadctl.cluster.acl import load_token, token_path, with_token
from nomadctl.cluster.api import Api, PermissionDenied
from nomadctl.cluster.target import workspace_target
from nomadctl.workspace import Workspace
from tests.standin import make_binary

CLUSTER = "af"


def env_for(home: Path, faults: Path | None = None) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    if faults is not None:
        env["STANDIN_FAULT_DIR"] = str(faults)
    return env


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args]


def nomadctl(home: Path, *args: str, faults: Path | None = None, timeout: float = 120):
    return subprocess.run(
        argv(*args), capture_output=True, text=True, env=env_for(home, faults),
        timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def up_args(binary: Path) -> list[str]:
    return ["up", "--local", "--nomad-binary", str(binary), "--servers", "1", "--clients", "0"]


def accepted(ws: Workspace, secret: str) -> bool:
    """Does the cluster accept this secret (GET /v1/acl/token/self)?"""
    try:
        Api(with_token(workspace_target(ws, token_kind=None), secret)).token_self()
    except PermissionDenied:
        return False
    return True


def bootstrapped(ws: Workspace) -> bool:
    """Has the cluster's ACL bootstrap been done (its servers' raft state says so)?"""
    for state in (ws.path / "local").glob("*/data/server/state.json"):
        if json.loads(state.read_text()).get("acl_bootstrap_index"):
            return True
    return False


@pytest.fixture
def cluster(tmp_path):
    faults = tmp_path / "faults"
    faults.mkdir()
    home, binary = tmp_path / "home", make_binary(tmp_path / "bin" / "nomad", fault_dir=faults)
    ws = Workspace(home, CLUSTER)
    try:
        yield home, binary, faults, ws
    finally:
        (faults / "acl-bootstrap.release").touch()
        # A test that failed with its tokens lost leaves a cluster whose final snapshot is
        # refused: down without it, and nothing of ours left running.
        nomadctl(home, "down", "--yes", "--no-snapshot")
        for pid_file in (home / CLUSTER / "local").glob("*/nomad.pid"):
            with contextlib.suppress(ValueError, OSError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def kill_up_at(point: str, home: Path, binary: Path, faults: Path) -> None:
    """Run `up` and SIGKILL it the moment the cluster has applied `point`'s change (the
    stand-in holds its answer there and says so), then let the stand-in go on."""
    (faults / f"{point}.hold").touch()
    run = subprocess.Popen(
        argv(*up_args(binary)), env=env_for(home, faults), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        reached = faults / f"{point}.reached"
        while not reached.exists():  # the stand-in writes it once the change is applied
            assert run.poll() is None, f"up ended before its {point} request was applied"
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.wait(0.05)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    (faults / f"{point}.release").touch()


def test_up_killed_after_the_bootstrap_is_applied_is_finished_by_a_rerun(cluster) -> None:
    home, binary, faults, ws = cluster
    kill_up_at("acl-bootstrap", home, binary, faults)
    assert bootstrapped(ws)
    written = load_token(ws)
    assert written is not None, "the secret was not written before the request"
    assert accepted(ws, written["SecretID"])  # the cluster's token is the one we hold

    again = nomadctl(home, *up_args(binary))
    assert again.returncode == 0, again.stderr
    token = load_token(ws)
    assert token is not None and token["SecretID"] == written["SecretID"]
    assert "Pending" not in token and token["AccessorID"]
    user = load_token(ws, "user")
    assert user is not None and accepted(ws, user["SecretID"])
    assert nomadctl(home, "status").returncode == 0


def test_up_killed_after_the_user_token_is_made_leaves_no_token_valid(cluster) -> None:
    """The user token's secret is Nomad's choice (it cannot be written ahead): the token a
    killed run made but never saved is revoked by the next run, which makes its own."""
    home, binary, faults, ws = cluster
    kill_up_at("acl-token-create", home, binary, faults)
    assert load_token(ws, "user") is None  # killed before the save

    again = nomadctl(home, *up_args(binary))
    assert again.returncode == 0, again.stderr
    token, user = load_token(ws), load_token(ws, "user")
    assert token is not None and user is not None
    admin = Api(with_token(workspace_target(ws, token_kind=None), token["SecretID"]))
    named = [t["AccessorID"] for t in admin.tokens() if t["Name"] == f"{CLUSTER}-user"]
    assert named == [user["AccessorID"]], "the orphan of the killed run is still valid"


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_an_unwritable_token_file_stops_before_the_bootstrap_request(cluster, fault) -> None:
    home, binary, _faults, ws = cluster
    tokens = token_path(ws, "management").parent
    tokens.mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    ws.path.chmod(0o700)
    if fault == "full":
        _mount("-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", str(tokens))
        with contextlib.suppress(OSError), open(tokens / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    else:
        _mount("-t", "tmpfs", "-o", "ro,size=16k,mode=0700", "tmpfs", str(tokens))
    try:
        proc = nomadctl(home, *up_args(binary))
    finally:
        subprocess.run(["umount", str(tokens)], check=True)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and str(tokens) in lines[-1]
    assert not bootstrapped(ws), "the bootstrap request was sent without its secret saved"

    again = nomadctl(home, *up_args(binary))  # the disk has room again
    assert again.returncode == 0, again.stderr
    token = load_token(ws)
    assert token is not None and accepted(ws, token["SecretID"])


def test_reset_on_local_agents_and_the_old_tokens_are_revoked(cluster) -> None:
    home, binary, _faults, ws = cluster
    assert nomadctl(home, *up_args(binary)).returncode == 0
    old, old_user = load_token(ws), load_token(ws, "user")
    assert old is not None and old_user is not None
    token_path(ws, "management").unlink()  # the management token is lost
    token_path(ws, "user").unlink()  # and the user token (a run killed before its save)

    lost = nomadctl(home, "acl-bootstrap")
    assert lost.returncode == 7 and "--reset" in lost.stderr, lost.stderr
    # The secret written ahead of that refused bootstrap is no token (the cluster does not
    # know it): not left in the workspace to be exported or sent as the management token.
    assert not token_path(ws, "management").exists()

    reset = nomadctl(home, "acl-bootstrap", "--reset")
    assert reset.returncode == 0, reset.stderr
    new, new_user = load_token(ws), load_token(ws, "user")
    assert new is not None and new["SecretID"] != old["SecretID"]
    assert accepted(ws, new["SecretID"]) and not accepted(ws, old["SecretID"])
    assert new_user is not None and accepted(ws, new_user["SecretID"])
    assert not accepted(ws, old_user["SecretID"]), "a token nobody holds is still valid"
