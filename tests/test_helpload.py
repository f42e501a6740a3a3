"""`nomadctl --help` loads Typer's help renderer without rich.markdown and rich.traceback,
and prints exactly what Typer prints when it imports them itself. (Speed is measured in
benchmarks/, never asserted here.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "100", "FORCE_COLOR": "1"}
PLAIN_TYPER = (
    "import sys, typer.rich_utils; sys.argv = ['nomadctl', *sys.argv[1:]]; "
    "from nomadctl.cli import main; main()"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, env=ENV
    )


@pytest.mark.parametrize("command", [[], ["up"], ["status"], ["ssh"]])
def test_help_is_what_typer_prints(command: list[str]) -> None:
    ours = run("-m", "nomadctl", *command, "--help")
    typers = run("-c", PLAIN_TYPER, *command, "--help")
    assert ours.returncode == typers.returncode == 0, ours.stderr + typers.stderr
    assert "Usage" in ours.stdout
    assert ours.stdout == typers.stdout


def test_help_skips_markdown_and_traceback() -> None:
    proc = run("-X", "importtime", "-m", "nomadctl", "--help")
    assert proc.returncode == 0
    imported = {
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "typer.rich_utils" in imported  # the measurement works
    assert not imported & {"rich.markdown", "rich.traceback", "markdown_it", "pygments"}


def test_stand_ins_forward_to_the_real_classes() -> None:
    code = """
import sys
from nomadctl import helpload
helpload.load()
import typer.rich_utils as r
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
md = r.Markdown("# title")
import rich.markdown, rich.traceback
assert type(md) is rich.markdown.Markdown and isinstance(md, r.Markdown)
assert r.Traceback.real() is rich.traceback.Traceback
assert r.Traceback.from_exception == rich.traceback.Traceback.from_exception
print("ok")
"""
    proc = run("-c", code)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
