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
    test_cmd = re.search(r"```sh\n(apt-get update .*?)\n```", README, re.S)
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
