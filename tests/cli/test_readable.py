"""Issue 16, point 5 (readable everywhere), the parts in the CLI's own hands: tables piped into
a file keep names whole and lines unpadded, a broken nomadctl.toml is a usage error, read-only
commands on an unknown cluster create nothing, and `env` never exports a file that is not
there. Each test failed on the main of 2026-12-02 (5a4e0ff)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from nomadctl.hosts import Host
from nomadctl.pki import store
from nomadctl.workspace import Workspace

TREE = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # the tree under test
LONG = "a-cluster-with-a-long-name-42xyz"  # 32 characters: the longest name allowed


def nomadctl(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as CI runs it: stdout and stderr are pipes, no terminal, no COLUMNS."""
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **TREE, **env},
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ---- tables in a pipe ------------------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"FORCE_COLOR": "1", "COLUMNS": "60"}])
def test_piped_table_keeps_names_whole_and_lines_unpadded(
    tmp_path: Path, env: dict[str, str]
) -> None:
    key = tmp_path / "id_ed25519"  # a real key: `up`'s preflight reads it even for --dry-run
    private = ed25519.Ed25519PrivateKey.generate()
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    proc = nomadctl(
        tmp_path,
        "--home",
        str(tmp_path / "h"),
        "--cluster",
        LONG,
        "up",
        "--dry-run",
        *("--server", "198.18.7.1", "--server", "198.18.7.2", "--server", "198.18.7.3"),
        *("--client", "198.18.7.4", "--ssh-key", str(key)),
        **env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for n in (1, 2, 3):  # each name whole, on the line with its address
        row = next(line for line in lines if f"{LONG}-server-{n} " in line)
        assert f"198.18.7.{n}" in row
    assert any(f"{LONG}-client-1 " in line and "198.18.7.4" in line for line in lines)
    assert "…" not in proc.stdout
    assert [line for line in lines if line != line.rstrip()] == []  # no padding at the end
    assert max(map(len, lines)) > 60  # longer than a terminal would allow: nothing folded


def test_piped_certs_table_keeps_long_paths_whole(tmp_path: Path) -> None:
    home = tmp_path / ("deep-" * 12) / "home"
    proc = nomadctl(tmp_path, "--home", str(home), "--cluster", LONG, "certs")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Certificates of cluster {LONG!r} in {home / LONG / 'certificates'}"
    ca = next(line for line in lines if line.split()[:1] == ["ca"])
    assert ca.split()[-1] == "ca/nomad-agent-ca.pem" and ca == ca.rstrip()
    assert "…" not in proc.stdout
    assert [line for line in lines if line != line.rstrip()] == []


# ---- nomadctl.toml that cannot be read -------------------------------------------------------


@pytest.mark.parametrize("how", ["found", "named"])
@pytest.mark.parametrize("damage", ["latin-1", "directory"])
def test_unreadable_config_file_is_a_usage_error(tmp_path: Path, how: str, damage: str) -> None:
    path = tmp_path / "nomadctl.toml"
    if damage == "directory":
        path.mkdir()
    else:
        path.write_bytes('[certs]\ndomain = "nomad"  # caf\xe9\n'.encode("latin-1"))
    args = ["--config", str(path)] if how == "named" else []
    proc = nomadctl(tmp_path, *args, "--home", str(tmp_path / "h"), "certs")
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc)
    assert str(path) in line
    assert ("directory" if damage == "directory" else "UTF-8") in line
    assert "unexpected" not in line
    assert not (tmp_path / "h").exists()


# ---- read-only commands on a cluster nomadctl does not know ----------------------------------


@pytest.mark.parametrize("command", [["status"], ["env"], ["ssh", "server-1"], ["acl-bootstrap"]])
@pytest.mark.parametrize("where", ["default home", "--home"])
def test_read_only_commands_on_an_unknown_cluster_create_nothing(
    tmp_path: Path, command: list[str], where: str
) -> None:
    before = tree(tmp_path)
    home = ["--home", str(tmp_path / "nowhere" / "home")] if where == "--home" else []
    proc = nomadctl(tmp_path, *home, "--cluster", "ghost", *command)
    assert proc.returncode != 0
    line = one_error_line(proc)
    assert "no cluster 'ghost'" in line, line
    assert tree(tmp_path) == before  # no ~/.nomadctl, no --home, no cluster directory


def test_read_only_commands_on_a_cluster_with_only_certs_create_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert nomadctl(tmp_path, "--home", str(home), "certs").returncode == 0
    before = tree(tmp_path)
    for command in (["env"], ["ssh", "server-1"], ["acl-bootstrap"], ["status"]):
        proc = nomadctl(tmp_path, "--home", str(home), "--cluster", "nomad", *command)
        assert proc.returncode != 0
        assert "no cluster 'nomad'" in one_error_line(proc)
    assert tree(tmp_path) == before


# ---- env exports only what exists ------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "home", "lab").create()
    store.ensure(ws, store.CertOptions())
    ws.update_state(hosts=[Host("lab-server-1", "server", "198.18.0.9").to_dict()])
    return ws


def test_env_exports_when_everything_exists(cluster: Workspace) -> None:
    proc = nomadctl(cluster.home.parent, "--home", str(cluster.home), "--cluster", "lab", "env")
    assert proc.returncode == 0, proc.stderr
    assert f"export NOMAD_CACERT={store.ca_paths(cluster).cert}" in proc.stdout


@pytest.mark.parametrize("which", ["ca", "cli cert", "cli key"])
def test_env_refuses_to_export_a_missing_file(cluster: Workspace, which: str) -> None:
    cli = store.leaf_paths(cluster, "cli", "global")
    path = {"ca": store.ca_paths(cluster).cert, "cli cert": cli.cert, "cli key": cli.key}[which]
    path.unlink()
    proc = nomadctl(cluster.home.parent, "--home", str(cluster.home), "--cluster", "lab", "env")
    assert proc.returncode != 0 and proc.stdout == ""
    line = one_error_line(proc)
    assert str(path) in line and "does not exist" in line
    assert "nomadctl certs" in line
