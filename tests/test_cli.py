"""The command line as a user meets it: help, version, start-up cost, error style."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nomadctl import __version__

HEAVY = ("boto3", "botocore", "paramiko", "nomad", "cryptography", "requests")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120"},
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
    assert "nomadctl.cli:main" in proc.stdout


@pytest.mark.parametrize("args", [["--help"], ["certs", "--help"]])
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    proc = run("-X", "importtime", "-m", "nomadctl", *args)
    assert proc.returncode == 0
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "typer" in imported  # the measurement works
    assert not imported & set(HEAVY), imported & set(HEAVY)


def test_help_lists_commands() -> None:
    proc = run("-m", "nomadctl", "--help")
    assert proc.returncode == 0
    assert "certs" in proc.stdout


def test_unknown_option_is_a_usage_error() -> None:
    proc = run("-m", "nomadctl", "certs", "--no-such-flag")
    assert proc.returncode == 2 and "No such option" in proc.stderr
    assert "Traceback" not in proc.stderr
