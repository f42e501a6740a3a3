"""Issue 16, point 7 (CLI conventions) and the one-line usage errors of point 5: Click's errors
are one line with exit 2, `nomadctl version`, shell completion, choices shown as choices,
`-o json` wherever `--json` is, `env` follows $SHELL. Each test failed on the main of
2026-12-02 (5a4e0ff)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nomadctl import __version__
from nomadctl.cli import app as cli
from nomadctl.cli.connect import detect_shell
from nomadctl.cli.options import NOMAD_VERSION
from nomadctl.hosts import Host
from nomadctl.pki import store
from nomadctl.workspace import Workspace

TREE = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # the tree under test
TOKEN = "0b3a5c1e-8d4f-4e2a-9c71-5f6e7d8a9b0c"  # an ACL Secret ID's shape
JSON_COMMANDS = ["certs", "up", "status", "acl-bootstrap", "down", "list", "version"]


def nomadctl(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nomadctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "100", **TREE, **env},
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


# ---- Click's usage errors: one line, exit 2 ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["up", "--servers", "x"],
            "error: --servers: 'x' is not a valid integer (see nomadctl up --help)",
        ),
        (["up", "--servers", "0"], "error: --servers: 0 is not in the range x>=1"),
        (["certs", "--region", "a.b"], "error: --region: must be a single DNS label"),
        (["certs", "--days"], "error: Option '--days' requires an argument"),
        (["certs", "--no-such-flag"], "error: No such option '--no-such-flag'"),
        (["up", "--install-method", "curl"], "error: --install-method: 'curl' is not one of"),
        (["env", "--shell", "tcsh"], "error: --shell: 'tcsh' is not one of"),
        (["ssh"], "error: Missing argument 'NODE'"),
        (["--cluster"], "error: Option '--cluster' requires an argument"),
        (["lsit"], "error: No such command 'lsit'"),
    ],
)
def test_click_usage_errors_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    """cli.main() itself, in-process (a subprocess each would cost 0.2 s for nothing more)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["nomadctl", "--home", str(tmp_path / "h"), *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    out, err = capsys.readouterr()
    assert exit_.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), err
    assert re.search(r"\(see nomadctl( \S+)? --help\)$", lines[0]), lines[0]
    assert "Usage:" not in err and out == ""
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["stat"], "error: No such command 'stat'. Did you mean 'status'? (see nomadctl --help)"),
        (["status", "--cluster", "dev"], "error: --cluster goes before the command: "
         "nomadctl --cluster ... status ..."),
        (["snapshot", "save", "--home", "/tmp"], "error: --home goes before the command: "
         "nomadctl --home ... snapshot save ..."),
        (["status", "-o", "yaml"], "error: -o/--output: 'yaml' is not one of json, table, "
         "wide (see nomadctl status --help)"),
    ],
)  # fmt: skip
def test_usage_errors_say_it_once_and_where_root_options_go(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    """Click 8.5 suggests a command itself, as Typer does (a newcomer saw "Did you mean
    'status'?" twice); nomadctl's own options after the command were "No such option" alone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["nomadctl", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    _out, err = capsys.readouterr()
    assert exit_.value.code == 2 and err.strip() == expected, err


def test_bare_nomadctl_still_shows_the_help(tmp_path: Path) -> None:
    proc = nomadctl(tmp_path)
    assert proc.returncode == 2 and "Commands:" in proc.stdout + proc.stderr


def test_unexpected_error_is_one_line_without_secrets(tmp_path: Path) -> None:
    """main()'s catch-all: a bug's message may carry a token, a key or a secret variable."""
    script = (
        "import sys; from nomadctl.cli import app as cli\n"
        "@cli.app.command()\n"
        "def boom() -> None:\n"
        f"    key = 'QUJD' * 10 + 'QUI='  # a 32-byte gossip key's shape\n"
        f"    raise RuntimeError(f'header {TOKEN} and {{key}} and aws-s3cr3t-value\\nx')\n"
        "sys.argv = ['nomadctl', 'boom']; cli.main()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **TREE}
    env["AWS_SECRET_ACCESS_KEY"] = "aws-s3cr3t-value"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 70
    line = one_error_line(proc)
    assert line.startswith("error: unexpected RuntimeError: header <redacted> and <redacted>")
    assert TOKEN not in proc.stderr and "QUJD" not in proc.stderr
    assert "aws-s3cr3t-value" not in proc.stderr


# ---- nomadctl version, completion ------------------------------------------------------------


def test_version_command(tmp_path: Path) -> None:
    proc = nomadctl(tmp_path, "version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"nomadctl {__version__}"
    assert lines[1].startswith(f"Python {platform.python_version()} ")
    assert lines[2].startswith(f"Nomad {NOMAD_VERSION} ")
    for args in (["version", "--json"], ["version", "-o", "json"]):
        data = json.loads(nomadctl(tmp_path, *args).stdout)
        assert data["nomadctl"] == __version__ and data["nomad_default"] == NOMAD_VERSION
        assert data["python"] == platform.python_version()
    assert nomadctl(tmp_path, "--version").stdout.strip() == f"nomadctl {__version__}"
    assert not (tmp_path / ".nomadctl").exists()


def test_completion_is_installable(tmp_path: Path) -> None:
    help_text = nomadctl(tmp_path, "--help").stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text
    named = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    script = nomadctl(tmp_path, "--show-completion", "bash", **named)
    assert script.returncode == 0 and "_NOMADCTL_COMPLETE=complete_bash" in script.stdout
    # The shell named (`named`, as Typer's own tests do), not looked for among the test's
    # parent processes: from a detached process shellingham finds none and both fail.
    proc = nomadctl(tmp_path, "--install-completion", "bash", **named)
    assert proc.returncode == 0, proc.stderr
    installed = tmp_path / ".bash_completions" / "nomadctl.sh"
    assert "_nomadctl_completion" in installed.read_text()
    assert str(installed) in (tmp_path / ".bashrc").read_text()
    # What bash asks when the user presses Tab after `nomadctl ce` / `nomadctl up --install-m`.
    for words, cword, want in (
        ("nomadctl ce", "1", "certs"),
        ("nomadctl up --install-m", "2", "--install-method"),
    ):
        proc = nomadctl(
            tmp_path,
            _NOMADCTL_COMPLETE="complete_bash",
            COMP_WORDS=words,
            COMP_CWORD=cword,
        )
        assert proc.returncode == 0 and proc.stdout.split() == [want], proc.stdout
    proc = nomadctl(
        tmp_path,
        _NOMADCTL_COMPLETE="complete_bash",
        COMP_WORDS="nomadctl up --install-method ",
        COMP_CWORD="3",
    )
    assert proc.stdout.split() == ["apt", "zip"]


# ---- choices shown as choices ----------------------------------------------------------------


def help_of(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`nomadctl COMMAND --help` from the real command tree, in-process (cheap)."""
    monkeypatch.chdir(tmp_path)  # no nomadctl.toml around
    result = CliRunner().invoke(cli.command(), [command, "--help"], prog_name="nomadctl")
    assert result.exit_code == 0, result.output
    return result.output


def test_choices_are_shown_in_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    up = help_of("up", tmp_path, monkeypatch)
    assert "--install-method [apt|zip]" in up
    assert "--edition [community|enterprise]" in up
    assert "--ssh-address [public|private]" in up
    assert "--shell [bash|zsh|fish]" in help_of("env", tmp_path, monkeypatch)


def test_a_bad_choice_in_nomadctl_toml_names_the_choices(tmp_path: Path) -> None:
    (tmp_path / "nomadctl.toml").write_text('[up]\nedition = "premium"\n')
    proc = nomadctl(tmp_path, "--home", str(tmp_path / "h"), "up", "--dry-run")
    assert proc.returncode == 2
    assert "must be one of community, enterprise" in one_error_line(proc)


# ---- -o json ---------------------------------------------------------------------------------


def test_json_is_also_o_json_in_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for command in JSON_COMMANDS:
        assert "-o, --json, --output [json|table|wide]" in help_of(command, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def certs_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("conventions") / "h"
    assert nomadctl(home.parent, "--home", str(home), "certs").returncode == 0
    return home


@pytest.mark.parametrize(
    "spelling", [["--json"], ["-o", "json"], ["-ojson"], ["--output", "json"], ["--output=json"]]
)
def test_o_json_prints_the_same_json(certs_home: Path, spelling: list[str]) -> None:
    proc = nomadctl(certs_home.parent, "--home", str(certs_home), "certs", *spelling)
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in json.loads(proc.stdout)] == ["kept"] * 5


def test_o_table_and_the_environment(certs_home: Path) -> None:
    tmp_path, home = certs_home.parent, ["--home", str(certs_home)]
    table = nomadctl(tmp_path, *home, "certs", "-o", "table")
    assert table.returncode == 0 and table.stdout.startswith("Certificates of cluster")
    env = nomadctl(tmp_path, *home, "certs", NOMADCTL_CERTS_JSON_OUTPUT="true")
    assert json.loads(env.stdout)[0]["kind"] == "ca"
    override = nomadctl(tmp_path, *home, "certs", "-o", "table", NOMADCTL_CERTS_JSON_OUTPUT="1")
    assert override.stdout.startswith("Certificates of cluster")  # the flag wins
    bad = nomadctl(tmp_path, *home, "certs", "-o", "yaml")
    assert bad.returncode == 2 and "'yaml' is not one of json, table" in one_error_line(bad)


# ---- env follows $SHELL ----------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "home", "lab").create()
    store.ensure(ws, store.CertOptions())
    ws.update_state(hosts=[Host("lab-server-1", "server", "198.18.0.9").to_dict()])
    return ws


@pytest.mark.parametrize(
    ("login_shell", "flag", "first"),
    [
        ("/opt/homebrew/bin/fish", [], "set -gx NOMAD_ADDR 'https://198.18.0.9:4646'"),
        ("/bin/zsh", [], "export NOMAD_ADDR=https://198.18.0.9:4646"),
        ("/usr/bin/fish", ["--shell", "bash"], "export NOMAD_ADDR=https://198.18.0.9:4646"),
        ("/bin/bash", ["--shell", "fish"], "set -gx NOMAD_ADDR 'https://198.18.0.9:4646'"),
    ],
)
def test_env_detects_the_shell(
    cluster: Workspace, login_shell: str, flag: list[str], first: str
) -> None:
    proc = nomadctl(
        cluster.home.parent,
        "--home",
        str(cluster.home),
        "--cluster",
        "lab",
        "env",
        *flag,
        SHELL=login_shell,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == first


def test_detect_shell() -> None:
    assert detect_shell({"SHELL": "/usr/bin/fish"}) == "fish"
    assert detect_shell({"SHELL": "/bin/zsh"}) == "zsh"
    assert detect_shell({"SHELL": "/bin/dash"}) == "bash"  # POSIX export lines
    assert detect_shell({"SHELL": "/usr/bin/tcsh"}) == "bash"
    assert detect_shell({}) == "bash"
