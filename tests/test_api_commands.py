"""status / acl-bootstrap / env against stand-in agents on loopback, steered by the Nomad
CLI's variables (no workspace), and env's output for each shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomadctl import acl, certstore, lifecycle
from nomadctl.hosts import Host
from nomadctl.workspace import Workspace
from tests.standin import make_binary
from tests.standin.harness import LocalAgents, Spec, next_ip


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[LocalAgents]:
    la = LocalAgents(make_binary(tmp_path / "nomad"), tmp_path / "agents")
    try:
        yield la
    finally:
        la.close()


def nomadctl(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "NOMADCTL_HOME": str(tmp / "home"), **env},
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[-1]


def test_plain_http_without_acls(agents: LocalAgents, tmp_path: Path) -> None:
    ip = next_ip()
    agent = agents.start(Spec("solo", ip, bootstrap_expect=1, acl=False))
    agents.wait_http(agent)
    addr = {"NOMAD_ADDR": f"http://{ip}:4646"}
    proc = nomadctl(tmp_path, "status", "--json", "--wait", "15", **addr)
    assert proc.returncode == 0, proc.stderr
    members = json.loads(proc.stdout)["members"]
    assert [(m["Name"], m["Tags"]["Leader"]) for m in members] == [("solo.global", "true")]

    line = one_line_error(nomadctl(tmp_path, "acl-bootstrap", **addr))
    assert "ACL support disabled" in line


def test_no_leader_is_one_line(agents: LocalAgents, tmp_path: Path) -> None:
    ip = next_ip()
    agent = agents.start(Spec("lonely", ip, bootstrap_expect=3))
    agents.wait_http(agent)
    addr = {"NOMAD_ADDR": f"http://{ip}:4646"}
    line = one_line_error(nomadctl(tmp_path, "acl-bootstrap", "--timeout", "2", **addr))
    assert "no cluster leader after 2s" in line


def test_unreachable_names_the_addresses(tmp_path: Path) -> None:
    addr = {"NOMAD_ADDR": "https://127.0.0.1:1,https://127.0.0.1:2"}
    line = one_line_error(nomadctl(tmp_path, "status", **addr))
    assert "cluster unreachable" in line
    assert "https://127.0.0.1:1 (connection refused)" in line and "127.0.0.1:2" in line


def test_no_cluster_and_no_env(tmp_path: Path) -> None:
    line = one_line_error(nomadctl(tmp_path, "status"))
    assert "NOMAD_ADDR" in line and "nomadctl up" in line


def make_workspace(tmp: Path) -> Workspace:
    ws = Workspace(tmp, "lab").create()
    certstore.ensure(ws, certstore.CertOptions(region="eu"))
    ws.update_state(
        hosts=[Host("lab-server-1", "server", "10.0.0.5", "203.0.113.5").to_dict()],
        ssh={"user": "ubuntu", "address": "public"},
        nomad={"region": "eu"},
    )
    acl.save_token(ws, "management", {"SecretID": "s3cr3t-with 'quote"})
    return ws


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_env_lines_per_shell(tmp_path: Path, shell: str) -> None:
    ws = make_workspace(tmp_path)
    lines = lifecycle.env_lines(ws, shell)
    text = "\n".join(lines)
    assert len(lines) == 7
    if shell == "fish":
        assert all(line.startswith("set -gx NOMAD_") for line in lines)
    else:
        assert all(line.startswith("export NOMAD_") for line in lines)
        out = subprocess.run(
            [
                "bash",
                "-c",
                text + '\nprintf "%s|%s|%s" "$NOMAD_ADDR" "$NOMAD_TOKEN" "$NOMAD_TLS_SERVER_NAME"',
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out == "https://203.0.113.5:4646|s3cr3t-with 'quote|server.eu.nomad"
    assert str(certstore.leaf_paths(ws, "cli", "eu").key) in text


def test_env_target_overrides_workspace(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    target = lifecycle.resolve_target(ws, {"NOMAD_ADDR": "http://127.0.0.1:4646"})
    assert target.source == "environment" and target.ca_file is None
    target = lifecycle.resolve_target(ws, {"NOMAD_TOKEN": "other"})
    assert target.source == "workspace" and target.token == "other"
    assert target.addresses == ["https://203.0.113.5:4646"]
