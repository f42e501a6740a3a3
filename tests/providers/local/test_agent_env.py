"""Issue 28 point 6: local agents start with an allow-listed environment. A client hands its
environment to raw_exec tasks, so what the agent process holds (its /proc/<pid>/environ) is
what any job a user token submits can read. Failed on the main of 2026-12-07 (b311992): the
agent inherited every variable but NOMAD_*."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from nomadctl.providers.local import proc

OPERATOR = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "session",
    "VAULT_TOKEN": "hvs.secret",
    "CONSUL_HTTP_TOKEN": "consul-secret",
    "GITHUB_TOKEN": "ghp_secret",
    "NOMAD_TOKEN": "0b7e4a9c-1f2d-4c3b-8a5e-6d7f8091a2b3",
    "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock",
    "PYTHONPATH": "/somewhere",
    "LD_PRELOAD": "/tmp/evil.so",
}


def test_agent_environment_holds_no_operator_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**OPERATOR, "LC_ALL": "C.UTF-8", "TZ": "UTC"}.items():
        monkeypatch.setenv(name, value)
    binary = tmp_path / "nomad"
    binary.write_text("#!/bin/sh\nexec sleep 60\n")  # holds the environment it was given
    binary.chmod(0o755)
    pid = proc.start(binary, proc.NodeDir(tmp_path / "local" / "client-1"))
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    names = {entry.split(b"=", 1)[0].decode() for entry in environ.split(b"\0") if entry}
    assert not names & set(OPERATOR), names
    assert names <= set(proc.AGENT_ENV) | {"LC_ALL", "PWD", "SHLVL", "_"}, names
    assert {"PATH", "LC_ALL", "TZ"} <= names
