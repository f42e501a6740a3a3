"""The command line as a user meets it: help, version, start-up cost, error style."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from nomadctl import __version__

TREE = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # the tree under test
HEAVY = ("boto3", "botocore", "paramiko", "nomad", "cryptography", "requests")


def run(*args: str, columns: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": str(columns), **TREE},
    )


def test_version() -> None:
    proc = run("-m", "nomadctl", "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"nomadctl {__version__}"


def test_console_script_matches_module() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.metadata as m; "
            "print([e.value for e in m.entry_points(group='console_scripts') "
            "if e.name == 'nomadctl'])",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "nomadctl.cli.app:main" in proc.stdout


@pytest.mark.parametrize("args", [["--help"], ["certs", "--help"], ["up", "-h"], []])
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    proc = run("-X", "importtime", "-m", "nomadctl", *args)
    assert proc.returncode in (0, 2) and "Usage: nomadctl" in proc.stdout + proc.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "typer" in imported  # the measurement works
    # rich only prints results: plain help needs none of it (docs/benchmarks.md, part 1)
    assert not imported & {*HEAVY, "rich"}, imported & {*HEAVY, "rich"}


def sections(text: str) -> dict[str, str]:
    """Help text split at its unindented `Heading:` lines."""
    found: dict[str, str] = {}
    title = ""
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            title = line[:-1]
            found[title] = ""
        elif title:
            found[title] += line + "\n"
    return found


def test_help_lists_commands_in_lifecycle_order_with_whole_sentences() -> None:
    proc = run("-m", "nomadctl", "--help")
    assert proc.returncode == 0
    commands = sections(proc.stdout)["Commands"]
    names = [line.split()[0] for line in commands.splitlines() if line[:3].strip()]
    assert names == [
        *("certs", "up", "status", "acl-bootstrap", "env", "ui", "ssh", "logs", "snapshot"),
        *("recover", "down", "list", "use", "doctor", "workspace", "version"),
    ]
    assert "..." not in commands  # Click's 45-character cut is not applied
    assert "nothing is left running or billing." in " ".join(commands.split())


def test_up_help_groups_options_in_sections() -> None:
    proc = run("-m", "nomadctl", "up", "--help")
    assert proc.returncode == 0
    found = sections(proc.stdout)
    assert list(found) == [
        "Options",
        "AWS",
        "SSH",
        "Hosts you already have",
        "Nomad",
        "This machine",
        "Day 2",
    ]
    assert "--vpc-cidr" in found["AWS"] and "--vpc-cidr" not in found["Options"]
    assert "--ssh-user" in found["SSH"] and "--nomad-version" in found["Nomad"]
    assert "--server TEXT" in found["Hosts you already have"]
    assert "--yes" in found["Options"] and "--help" in found["Options"]
    assert "\\[" not in proc.stdout  # no rich markup escapes left in plain help
    assert "[default: 10.42.0.0/16, or" in proc.stdout


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_help_wraps_between_words_only(columns: int) -> None:
    for command in (["--help"], ["up", "--help"]):
        proc = run("-m", "nomadctl", *command, columns=columns)
        assert proc.returncode == 0
        lines = "".join(sections(proc.stdout).values()).splitlines()
        assert all(len(line) <= columns for line in lines)
        assert not [line for line in lines if re.search(r"\w-$", line)]  # e.g. "--allow-"
    assert "to --allow-cidr, repeatable." in " ".join(proc.stdout.split())


def test_ssh_help_lists_arguments_first() -> None:
    proc = run("-m", "nomadctl", "ssh", "--help")
    assert proc.returncode == 0
    assert list(sections(proc.stdout)) == ["Arguments", "Options"]
    assert "NODE" in sections(proc.stdout)["Arguments"]


def test_unknown_option_is_a_usage_error() -> None:
    proc = run("-m", "nomadctl", "certs", "--no-such-flag")
    assert proc.returncode == 2 and "No such option" in proc.stderr
    assert "Traceback" not in proc.stderr
