"""`nomadctl workspace export|import` (issue 24 point 5): a live local cluster (stand-in
agents) exported with a passphrase, imported under a fresh NOMADCTL_HOME, and `status` works
from there; a wrong passphrase, a changed, cut or foreign file: one line, exit 3, nothing
written; an existing cluster is never overwritten; the passphrase never on the command line."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomadctl.workspace import Workspace
from tests.providers.local.test_local_cli import agent_pids
from tests.standin import make_binary
from tests.terminal import run_on_terminal

CLUSTER = "pw"
PASSPHRASE = "correct horse battery staple"


def nomadctl(home: Path, *args: str, cluster: str | None = CLUSTER, timeout: float = 120):
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    flags = ["--cluster", cluster] if cluster else []
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *flags, *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def one_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def tree(root: Path) -> dict[str, int]:
    """Every path under `root` and its mode."""
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    tmp = tmp_path_factory.mktemp("portable")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    try:
        up = nomadctl(home, "up", "--local", "--nomad-binary", str(binary), "--clients", "0")
        assert up.returncode == 0, up.stderr
        passfile = tmp / "passphrase"
        passfile.write_text(PASSPHRASE + "\n")
        out = tmp / "pw.nomadctl"
        done = nomadctl(home, "workspace", "export", str(out), "--passphrase-file",
                        str(passfile), "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["cluster"] == CLUSTER
        yield home, out
    finally:
        nomadctl(home, "down", "--yes")
        for pid in agent_pids(binary):
            os.kill(pid, signal.SIGKILL)


def passfile(tmp_path: Path, text: str = PASSPHRASE + "\n") -> str:
    path = tmp_path / "pass"
    path.write_text(text)
    return str(path)


def test_export_is_sealed_and_import_under_a_fresh_home_works(
    cluster: tuple[Path, Path], tmp_path: Path
) -> None:
    home, out = cluster
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    sealed = out.read_bytes()
    gossip = (home / CLUSTER / "gossip.key").read_text().strip()
    token = json.loads((home / CLUSTER / "tokens" / "management.json").read_text())["SecretID"]
    for secret in (gossip, token, "PRIVATE KEY", '"cluster"'):
        assert secret.encode() not in sealed

    fresh = tmp_path / "elsewhere"
    done = nomadctl(fresh, "workspace", "import", str(out), "--passphrase-file",
                    passfile(tmp_path), cluster=None)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Cluster '{CLUSTER}' imported" in done.stdout
    modes = tree(fresh)
    assert modes and all(
        mode == (0o700 if (fresh / p).is_dir() else 0o600) for p, mode in modes.items()
    ), modes
    assert not [p for p in modes if p.startswith((f"{CLUSTER}/local", ".import"))]
    status = nomadctl(fresh, "status", "--json", "--wait", "20")
    assert status.returncode == 0, status.stderr
    members = json.loads(status.stdout)["members"]
    assert len([m for m in members if m["Status"] == "alive"]) == 3
    env = nomadctl(fresh, "env", "--management", "--shell", "bash")
    assert f"NOMAD_TOKEN={token}" in env.stdout and str(fresh) in env.stdout

    again = nomadctl(fresh, "workspace", "import", str(out), "--passphrase-file",
                     passfile(tmp_path), cluster=None)  # fmt: skip
    assert "already exists" in one_error(again, 3)
    assert tree(fresh) == modes  # untouched


def test_wrong_passphrase_changed_cut_or_foreign_file_write_nothing(
    cluster: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = cluster
    sealed = out.read_bytes()
    cases = {
        "wrong": (sealed, "not the passphrase"),
        "body": (sealed[:-40] + bytes([sealed[-40] ^ 1]) + sealed[-39:], PASSPHRASE),
        "header": (sealed[:30] + bytes([sealed[30] ^ 1]) + sealed[31:], PASSPHRASE),
        "cut": (sealed[: len(sealed) // 2], PASSPHRASE),
        "stub": (sealed[:40], PASSPHRASE),
        "foreign": (b"PK\x03\x04 not ours" * 10, PASSPHRASE),
    }
    for name, (data, phrase) in cases.items():
        bad = tmp_path / f"{name}.nomadctl"
        bad.write_bytes(data)
        home = tmp_path / f"home-{name}"
        proc = nomadctl(home, "workspace", "import", str(bad), "--passphrase-file",
                        passfile(tmp_path, phrase), cluster=None)  # fmt: skip
        line = one_error(proc, 3)
        assert "nothing was written" in line, (name, line)
        assert PASSPHRASE not in line
        assert not home.exists(), name


def test_bad_inputs_are_one_line(cluster: tuple[Path, Path], tmp_path: Path) -> None:
    home, out = cluster
    # No terminal to ask, no --passphrase-file: refused before anything is read or written.
    assert "--passphrase-file" in one_error(
        nomadctl(home, "workspace", "export", str(tmp_path / "x")), 2
    )
    assert not (tmp_path / "x").exists()
    assert "--passphrase-file" in one_error(
        nomadctl(tmp_path / "h", "workspace", "import", str(out), cluster=None), 2
    )
    # The passphrase is never an argument.
    proc = nomadctl(home, "workspace", "export", str(tmp_path / "x"), "--passphrase", "secret1!")
    assert "--passphrase" in one_error(proc, 2) and "secret1!" not in proc.stderr
    # Too short, empty, unreadable passphrase files; an existing target; no such cluster.
    short = passfile(tmp_path, "short\n")
    assert "at least 8" in one_error(
        nomadctl(home, "workspace", "export", str(tmp_path / "x"), "--passphrase-file", short), 2
    )
    empty = passfile(tmp_path, "\n")
    assert "empty" in one_error(
        nomadctl(home, "workspace", "export", str(tmp_path / "x"), "--passphrase-file", empty), 2
    )
    missing = str(tmp_path / "nope")
    assert "cannot read" in one_error(
        nomadctl(home, "workspace", "export", str(tmp_path / "x"), "--passphrase-file", missing),
        2,
    )
    good = passfile(tmp_path)
    assert "already exists" in one_error(
        nomadctl(home, "workspace", "export", str(out), "--passphrase-file", good), 2
    )
    other = nomadctl(home, "workspace", "export", str(tmp_path / "x"), "--passphrase-file",
                     good, cluster="other")  # fmt: skip
    assert "no cluster 'other'" in one_error(other, 3)
    assert not (tmp_path / "x").exists()
    # --cluster given to import must be the file's cluster.
    wrong = nomadctl(tmp_path / "h2", "workspace", "import", str(out), "--passphrase-file", good,
                     cluster="other")  # fmt: skip
    assert "holds cluster 'pw', not 'other'" in one_error(wrong, 2)
    assert not (tmp_path / "h2").exists()


def test_import_asks_for_the_passphrase_on_a_terminal(
    cluster: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = cluster
    fresh = tmp_path / "tty-home"
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(fresh),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    run = run_on_terminal(
        [sys.executable, "-m", "nomadctl", "workspace", "import", str(out)],
        env=env, cwd=tmp_path, prompt="Passphrase", answer=PASSPHRASE,
    )  # fmt: skip
    assert run.prompted and run.returncode == 0, run.terminal
    assert PASSPHRASE not in run.terminal  # not echoed
    assert (fresh / CLUSTER / "state.json").is_file()


def test_the_ssh_key_path_moves_with_the_workspace(tmp_path: Path) -> None:
    """state.json records the SSH key's absolute path (hosts.record_ssh): an import under
    another home points it at the imported key."""
    ws = Workspace(tmp_path / "a", "keys").create()
    key = ws.path / "ssh" / "id_ed25519"
    ws.write_secret(key, b"not really a key\n")
    ws.save_state({"ssh": {"user": "ubuntu", "key_path": str(key)}, "hosts": []})
    out = tmp_path / "keys.nomadctl"
    good = passfile(tmp_path)
    done = nomadctl(ws.home, "workspace", "export", str(out), "--passphrase-file", good,
                    cluster="keys")  # fmt: skip
    assert done.returncode == 0, done.stderr
    back = nomadctl(tmp_path / "b", "workspace", "import", str(out), "--passphrase-file", good,
                    cluster=None)  # fmt: skip
    assert back.returncode == 0, back.stderr
    moved = Workspace(tmp_path / "b", "keys")
    assert moved.load_state()["ssh"]["key_path"] == str(moved.path / "ssh" / "id_ed25519")
    assert (moved.path / "ssh" / "id_ed25519").read_bytes() == b"not really a key\n"
