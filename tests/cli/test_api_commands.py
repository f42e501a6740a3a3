"""status / acl-bootstrap / env against stand-in agents on loopback, steered by the Nomad
CLI's variables (no workspace), and env's output for each shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from nomadctl.cluster import acl
from nomadctl.cluster.target import env_lines, ignored_env, resolve_target
from nomadctl.hosts import Host
from nomadctl.pki import store
from nomadctl.workspace import Workspace
from tests.standin import make_binary
from tests.standin.certs import CertPair
from tests.standin.harness import LocalAgents, Running, Spec, next_ip


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
        env={
            "PATH": os.environ["PATH"],
            "NOMADCTL_HOME": str(tmp / "home"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            **env,
        },
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[-1]


TOKEN = "0b3a5c1e-8d4f-4e2a-9c71-5f6e7d8a9b0c"


def workspace_cluster(
    agents: LocalAgents, tmp: Path, *, acl_enabled: bool = True, expect: int = 1
) -> tuple[Workspace, Running]:
    """A workspace `lab` whose one recorded server is a stand-in agent on loopback, with the
    workspace's own CA, node certificate and mutual TLS: what `up` leaves behind."""
    ip = next_ip()
    ws = Workspace(tmp / "home", "lab").create()
    store.ensure(ws, store.CertOptions())
    ca = store.load_ca(ws)
    name = "lab-server-1"
    store.ensure_node_cert(ws, ca, name=name, kind="server", region="global", addresses=[ip])
    node = store.node_paths(ws, name)
    cli = store.leaf_paths(ws, "cli")
    ws.update_state(
        hosts=[Host(name, "server", ip).to_dict()],
        ssh={"user": "ubuntu", "address": "private"},
        nomad={"region": "global"},
    )
    agents.pki = SimpleNamespace(  # type: ignore[assignment]
        ca=SimpleNamespace(cert=store.ca_paths(ws).cert),
        cli=SimpleNamespace(cert=cli.cert, key=cli.key),
    )
    spec = Spec(
        f"{name}-{ip}",  # each agent its own directory
        ip,
        bootstrap_expect=expect,
        acl=acl_enabled,
        tls=CertPair(node.cert, node.key),
        ca_file=store.ca_paths(ws).cert,
    )
    agent = agents.start(spec)
    agents.wait_http(agent)
    return ws, agent


def test_plain_http_without_acls(agents: LocalAgents, tmp_path: Path) -> None:
    ip = next_ip()
    agent = agents.start(Spec("solo", ip, bootstrap_expect=1, acl=False))
    agents.wait_http(agent)
    addr = {"NOMAD_ADDR": f"http://{ip}:4646"}
    proc = nomadctl(tmp_path, "status", "--json", "--wait", "15", **addr)
    assert proc.returncode == 0, proc.stderr
    members = json.loads(proc.stdout)["members"]
    assert [(m["Name"], m["Tags"]["Leader"]) for m in members] == [("solo.global", "true")]


def test_acl_bootstrap_errors_are_one_line(agents: LocalAgents, tmp_path: Path) -> None:
    """acl-bootstrap works on the workspace's own cluster: ACLs off, or no leader yet."""
    ws, _ = workspace_cluster(agents, tmp_path / "off", acl_enabled=False)
    line = one_line_error(nomadctl(ws.home.parent, "--cluster", "lab", "acl-bootstrap"))
    assert "ACL support disabled" in line
    ws, _ = workspace_cluster(agents, tmp_path / "lonely", expect=3)
    proc = nomadctl(ws.home.parent, "--cluster", "lab", "acl-bootstrap", "--timeout", "2")
    assert "no cluster leader after 2s" in one_line_error(proc)
    proc = nomadctl(tmp_path / "none", "acl-bootstrap", NOMAD_ADDR="http://127.0.0.1:1")
    assert proc.returncode == 2 and "no cluster 'nomad'" in one_line_error(proc)


def test_unreachable_names_the_addresses(tmp_path: Path) -> None:
    addr = {"NOMAD_ADDR": "https://127.0.0.1:1,https://127.0.0.1:2"}
    line = one_line_error(nomadctl(tmp_path, "status", **addr))
    assert "cluster unreachable" in line
    assert "https://127.0.0.1:1, https://127.0.0.1:2 refused the connection" in line
    assert "no Nomad agent listens there" in line


def test_no_cluster_and_no_env(tmp_path: Path) -> None:
    line = one_line_error(nomadctl(tmp_path, "status"))
    assert "NOMAD_ADDR" in line and "nomadctl up" in line


def make_workspace(tmp: Path) -> Workspace:
    ws = Workspace(tmp, "lab").create()
    store.ensure(ws, store.CertOptions(region="eu"))
    ws.update_state(
        hosts=[Host("lab-server-1", "server", "10.0.0.5", "203.0.113.5").to_dict()],
        ssh={"user": "ubuntu", "address": "public"},
        nomad={"region": "eu"},
    )
    acl.save_token(ws, "management", {"SecretID": TOKEN})
    acl.save_token(ws, "user", {"SecretID": TOKEN.replace("0b3a", "1111")})
    return ws


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_env_lines_per_shell(tmp_path: Path, shell: str) -> None:
    ws = make_workspace(tmp_path)
    lines = env_lines(ws, shell)
    text = "\n".join(lines)
    assert len(lines) == 8  # the 7 NOMAD_* and NOMADCTL_CLUSTER (issue 26 point 5), last
    if shell == "fish":
        assert all(line.startswith("set -gx NOMAD_") for line in lines[:7])
        assert lines[7] == "set -gx NOMADCTL_CLUSTER 'lab'"
    else:
        assert all(line.startswith("export NOMAD_") for line in lines[:7])
        assert lines[7] == "export NOMADCTL_CLUSTER=lab"
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
        user = TOKEN.replace("0b3a", "1111")  # the user token, not the management one
        assert out == f"https://203.0.113.5:4646|{user}|server.eu.nomad"
    assert str(store.leaf_paths(ws, "cli", "eu").key) in text


def test_env_target_overrides_workspace_unless_named(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    target = resolve_target(ws, {"NOMAD_ADDR": "http://127.0.0.1:4646"})
    assert target.source == "environment" and target.ca_file is None
    # NOMAD_TOKEN alone belongs to whatever the shell points at, not to this cluster.
    target = resolve_target(ws, {"NOMAD_TOKEN": TOKEN.replace("0b3a", "2222")})
    assert target.source == "workspace" and target.token == TOKEN
    assert target.addresses == ["https://203.0.113.5:4646"]
    assert ignored_env(ws, {"NOMAD_TOKEN": "x"}) == ["NOMAD_TOKEN"]
    named = Workspace(tmp_path, "lab", named=True)
    env = {"NOMAD_ADDR": "http://127.0.0.1:4646", "NOMAD_TOKEN": TOKEN.replace("0b3a", "2222")}
    target = resolve_target(named, env)
    assert target.source == "workspace" and target.token == TOKEN
    assert ignored_env(named, env) == ["NOMAD_ADDR", "NOMAD_TOKEN"]
