"""Tables never cut data (issue 26 point 3): `status` on terminals 60, 80, 100 and 200 columns
wide drops its minor columns first and never truncates or wraps a name, an address, a port or
a boolean; `-o wide` shows every column; piped, every column is there as before.

Real parts: a local cluster of stand-in agents (one server, one client) made by `up --local`,
`status` as a process whose stdout and stderr are a real pseudo-terminal of the given size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin import make_binary
from tests.terminal import run_with_tty

MEMBER_HEADERS = ("Name", "Address", "Port", "Status", "Leader", "Raft Version", "Build",
                  "Datacenter", "Region")  # fmt: skip


def env_for(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        "NOMADCTL_CLUSTER": "nt",
        "TERM": "xterm",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }


def on_terminal(argv: list[str], env: dict[str, str], columns: int) -> tuple[int, str]:
    return run_with_tty(argv, env, columns)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("narrow")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    env = env_for(home)
    nomadctl = [sys.executable, "-m", "nomadctl"]
    up = subprocess.run(
        [*nomadctl, "up", "--local", "--servers", "1", "--clients", "1", "--nomad-binary",
         str(binary)],
        capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        status = subprocess.run(
            [*nomadctl, "status", "--json", "--wait", "30"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        yield env, json.loads(status.stdout)
    finally:
        subprocess.run([*nomadctl, "down", "--yes"], env=env, capture_output=True, timeout=120)


def rows_of(shown: str, name: str, address: str) -> list[str]:
    """The lines whose first cell is `name` and that hold `address` (not the certificates')."""
    return [ln for ln in shown.splitlines() if ln.split()[:1] == [name] and address in ln]


HIDDEN = {  # the members' columns each width leaves out, least useful first
    60: ("Raft Version", "Build", "Datacenter", "Region"),
    80: ("Raft Version", "Build"),
    100: (),  # 98 columns are enough for this cluster's table
    200: (),
}


@pytest.mark.parametrize("columns", [60, 80, 100, 200])
def test_status_keeps_every_cell_whole_at_any_width(cluster, columns: int) -> None:
    env, report = cluster
    code, shown = on_terminal([sys.executable, "-m", "nomadctl", "status"], env, columns)
    assert code == 0, shown
    assert "…" not in shown
    for m in report["members"]:
        # one line: the name is neither cut nor wrapped
        (row,) = rows_of(shown, m["Name"], m["Addr"])
        cells = row.split()
        assert cells[:5] == [m["Name"], m["Addr"], str(m["Port"]), "alive", "true"], row
    for n in report["nodes"]:
        (row,) = rows_of(shown, n["Name"], n["Address"])
        assert row.split()[:3] == [n["Name"], n["Address"], "ready"], row
    header = next(line for line in shown.splitlines() if line.split()[:2] == ["Name", "Address"])
    hidden = HIDDEN[columns]
    assert [h for h in MEMBER_HEADERS if h not in header] == list(hidden), header
    if hidden:
        note = f"({', '.join(hidden)} not shown at {columns} columns; `-o wide` shows every column)"
        assert note in " ".join(shown.split())
        # the note is wrapped between words to the terminal, not broken mid-word by it
        assert all(len(line) <= columns for line in shown.replace("\r", "").splitlines())
    else:
        assert "not shown" not in shown.split("\n\n")[0]
    table_lines = [ln for ln in shown.splitlines() if ln.startswith(" ") or ln[:4] == "Name"]
    assert max(map(len, table_lines)) <= columns, shown


def test_wide_shows_every_column_on_a_narrow_terminal(cluster) -> None:
    env, _report = cluster
    code, shown = on_terminal([sys.executable, "-m", "nomadctl", "status", "-o", "wide"], env, 60)
    assert code == 0, shown
    joined = shown.replace("\r", "")
    for h in MEMBER_HEADERS:
        assert h in joined.replace("\n", " ")
    assert "not shown" not in shown


def test_piped_status_is_unchanged(cluster) -> None:
    env, _report = cluster
    piped = subprocess.run(
        [sys.executable, "-m", "nomadctl", "status"],
        capture_output=True, text=True, env={**env, "COLUMNS": "60", "FORCE_COLOR": "1"},
        timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert all(h in lines[0] for h in MEMBER_HEADERS), lines[0]
    assert "not shown" not in piped.stderr
