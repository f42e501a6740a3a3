"""The README tells the truth: its command reference is the CLI's own, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2

from tools import cli_reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_reference_matches_the_cli() -> None:
    expected = cli_reference.splice(README, cli_reference.reference())
    assert expected == README, "README is stale: run `python -m tools.cli_reference --write`"


def test_every_command_is_documented() -> None:
    import typer.main

    from nomadctl.cli.app import app

    group = typer.main.get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        assert f"### `nomadctl {name}" in README


def test_setup_commands_match_ci() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = re.search(r"```sh\n\s*(apt-get update .*?)\n\s*```", README, re.S)
    assert test_cmd is not None
    line = test_cmd.group(1)
    for pkg in re.search(r"need=\(([^)]*)\)", ci).group(1).split():  # type: ignore[union-attr]
        assert pkg in line, f"{pkg} installed by CI but missing from the README's command"
    assert "pip install -e '.[test]'" in line and line.endswith("python3 -m pytest -q")
    assert "python3 -m pytest -q" in ci


def test_sample_jobs_listed_and_parse() -> None:
    jobs = sorted((ROOT / "examples" / "jobs").glob("*.nomad.hcl"))
    assert len(jobs) >= 7
    for job in jobs:
        assert f"`{job.name}`" in README
        text = job.read_text()
        assert text.startswith("# "), f"{job.name} needs a header comment"
        assert "Run:" in text or "nomad job run" in text
        parsed = hcl2.loads(text)
        assert len(parsed["job"]) == 1


def first_screen() -> str:
    """The README from its title to the second section: what a newcomer reads first."""
    start = README.index("## Get started")
    return README[start : README.index("\n## ", start + 1)]


def test_first_screen_clones_installs_in_a_venv_and_starts_local() -> None:
    """Issue 26 point 1: clone, an install Debian 12 / Ubuntu 24.04 allow (a venv or pipx,
    never a bare `pip install` into the system Python), `nomadctl up --local`, where the
    binary comes from with the cache path; the test suite's command lives in Development."""
    text = first_screen()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None
    lines = block.group(1).splitlines()
    assert lines[0].startswith("git clone ") and "python3 -m venv" in lines[1]
    assert not any(re.match(r"(sudo )?pip3? install", line) for line in lines)
    assert lines[-1] == "nomadctl up --local" and "pipx install ." in text
    # ~/.local/bin is on a login's PATH only if it existed at login: the next line would be
    # "command not found" on a fresh Debian/Ubuntu account (seen in a newcomer's walk-through)
    assert 'export PATH="$HOME/.local/bin:$PATH"' in lines[3].split("  #")[0], lines[3]
    assert "apt-get install -y openssh-server" not in text  # the tests' set-up: Development
    dev = README[README.index("## Development") :]
    assert "apt-get update && apt-get install -y openssh-server" in dev
    from nomadctl.cli.options import NOMAD_VERSION
    from nomadctl.node import releases

    os_name, arch = releases.platform_names()
    cache = releases.cache_path(Path("~/.nomadctl"), NOMAD_VERSION)
    source = cache.parent.name  # releases.hashicorp.com checked with HashiCorp's key
    shown = f"~/.nomadctl/cache/nomad/{NOMAD_VERSION}/linux_amd64/{source}/nomad"
    assert shown in text
    assert str(cache) == shown.replace("linux_amd64", f"{os_name}_{arch}")
    assert "`nomad_<version>_<os>_<arch>.zip`" in text and "`--nomad-binary PATH`" in text


def test_clone_line_uses_the_repository_url() -> None:
    """The clone line's address is pyproject.toml's Repository URL (its one source), and the
    install lines name what pyproject builds: the distribution and its `nomadctl` script."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    block = re.search(r"```sh\n(.*?)```", first_screen(), re.S)
    assert block is not None
    lines = block.group(1).splitlines()
    assert lines[0] == f"git clone {project['urls']['Repository']} nomadctl && cd nomadctl"
    assert "<" not in lines[0]  # no placeholder left for the shell to read as a redirection
    assert project["scripts"]["nomadctl"] and "bin/nomadctl " in lines[2]
    assert f"`{project['name']}`" in first_screen()


def test_first_screen_commands_run(tmp_path: Path) -> None:
    """The first screen's `nomadctl` commands, run as written (a `nomad` on PATH, as the
    README says it may be: the stand-in), then the `down --yes` it names."""
    import os
    import subprocess
    import sys

    from tests.standin import make_binary

    block = re.search(r"```sh\n(.*?)```", first_screen(), re.S)
    assert block is not None
    commands = [ln.split()[1:] for ln in block.group(1).splitlines() if ln.startswith("nomadctl ")]
    assert commands == [["up", "--local"]]
    assert "`nomadctl down --yes`" in first_screen()
    binary = make_binary(tmp_path / "bin" / "nomad")
    env = {"PATH": f"{binary.parent}:/usr/bin:/bin", "NOMADCTL_HOME": str(tmp_path / "home"),
           **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}  # fmt: skip

    def nomadctl(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "nomadctl", *args]
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL
        )

    try:
        for args in commands:
            proc = nomadctl(*args)
            assert proc.returncode == 0, proc.stderr
            assert "is up: leader" in proc.stdout
        # The README's python-nomad lines, after `eval "$(nomadctl env)"`: verify= the CA
        exported = nomadctl("env", "--shell", "bash")
        assert exported.returncode == 0, exported.stderr
        snippet = re.search(r"```python\n(.*?)```", README, re.S)
        assert snippet is not None and 'verify=os.environ["NOMAD_CACERT"]' in snippet.group(1)
        script = f"{exported.stdout}\n{sys.executable} - <<'EOF'\n{snippet.group(1)}EOF\n"
        ran = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                             timeout=60)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert "nomad-client-1" in ran.stdout
    finally:
        down = nomadctl("down", "--yes")
    assert down.returncode == 0, down.stderr
