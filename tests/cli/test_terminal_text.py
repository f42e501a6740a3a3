"""Issue 28 point 4: no control character from text nomadctl did not write (API data, host
output, file contents) reaches the terminal, in tables, progress, messages and errors;
`--json` escapes them as JSON does. Each test failed on the main of 2026-12-07 (b311992):
a node name could retitle the window, clear the screen or add a hyperlink."""

from __future__ import annotations

import io
import json
import sys

import pytest
from rich.console import Console
from rich.markup import escape

from nomadctl.cli.tables import MEMBER_COLUMNS, NODE_COLUMNS, member_table, node_table
from nomadctl.cli.ui import Ui, plain, status_cell

EVIL = "web\x1b]0;owned\x07\x1b[2J\x1b[31m[link=https://evil.example]x[/link]\r\u202edcba\x9b1m\n"


def captured(terminal: bool = True) -> tuple[Ui, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    make = lambda f: Console(file=f, force_terminal=terminal, width=400, highlight=False)  # noqa: E731
    return Ui(out=make(out), err=make(err)), out, err


def no_control(text: str, ours_only: bool = True) -> None:
    """No control character but what rich itself writes (colours, its spinner hiding the
    cursor and redrawing its line) and newlines."""
    import re

    ours = r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[1A|\x1b\[2K|\r"
    stripped = re.sub(ours, "", text) if ours_only else text
    bad = [c for c in stripped if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]
    assert not bad and "\u202e" not in stripped, repr(text)


def test_plain_escapes_every_control_and_keeps_text() -> None:
    assert plain("node-1 é ✓") == "node-1 é ✓"
    assert plain("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert plain("a\nb") == "a\\x0ab" and plain("a\nb", keep_newlines=True) == "a\nb"
    assert plain("\u202e\u2028\x9b\x00") == "\\u202e\\u2028\\x9b\\x00"


def test_a_node_named_with_escapes_prints_as_plain_text() -> None:
    ui, out, _ = captured()
    member = {
        "Name": EVIL,
        "Addr": "198.18.0.1",
        "Port": 4648,
        "Status": "alive",
        "Tags": {"Leader": "true", "dc": EVIL, "region": "global", "build": "1.11.1"},
    }
    node = {"Name": EVIL, "Address": "198.18.0.2", "Status": "ready", "Datacenter": "dc1"}
    ui.table(None, MEMBER_COLUMNS, member_table([member]))
    ui.table(None, NODE_COLUMNS, node_table([node]))
    text = out.getvalue()
    no_control(text)
    assert "[link=https://evil.example]x[/link]" in text  # shown, not read as markup
    assert "\\x1b]0;owned\\x07\\x1b[2J" in text


def test_our_own_markup_still_colours_a_cell() -> None:
    ui, out, _ = captured()
    ui.table(None, ["Status"], [[status_cell("created") + " (a [note])"]])
    assert "\x1b[32mcreated" in out.getvalue() and "(a [note])" in out.getvalue()


def test_errors_messages_and_progress_are_plain() -> None:
    ui, _, err = captured()
    ui.error(f"listing nodes: 198.18.0.1 answered 500: {EVIL}")
    ui.info(f"note: {escape(EVIL)}")  # a message is markup: callers escape what they quote
    with ui.progress(f"configuring {EVIL}") as report:
        report(f"host said {EVIL}")
    no_control(err.getvalue())
    assert err.getvalue().count("\\x1b]0;owned") >= 3


def test_json_escapes_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    Ui().json({"Name": EVIL})
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\\u001b" in text
    assert json.loads(text)["Name"] == EVIL  # nothing lost for a program reading it
    assert sys.stdout is not None
