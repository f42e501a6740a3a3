"""Everything the user sees: rich tables on stdout, messages on stderr, `--json` output.

Only cli/ uses this module (typer, click and rich stay there); nothing here knows about
AWS, SSH or HTTP. rich is imported when something is first printed, not before: `--help`
never needs it.
"""

from __future__ import annotations

import contextlib
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

STATUS_STYLE = {
    "created": "green",
    "reissued": "yellow",
    "rotated": "yellow",
    "kept": "dim",
    "deleted": "red",
    "failed": "bold red",
    "updated": "yellow",
    "create": "green",
    "update": "yellow",
    "exists": "dim",
    "delete": "red",
    "replace": "yellow",
}


def plain(text: str, keep_newlines: bool = False) -> str:
    """`text` safe to show on a terminal: every control character (C0, DEL, C1), format
    character (bidi overrides, zero-width) and line or paragraph separator becomes a visible
    escape (`\\x1b`, `\\u202e`), so API data, host output and file contents can neither
    move the cursor, retitle the window nor pretend to be a line of ours. Newlines are kept
    only when `keep_newlines` (our own multi-line messages); a tab becomes a space. The one
    function every rendering point uses: tables, progress, errors and messages."""
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


class Styled(str):
    """A table cell of nomadctl's own, with rich markup (a coloured status); any other cell
    is shown as plain text: no markup read from it, no control character let through."""

    __slots__ = ()

    def __add__(self, other: str) -> Styled:
        """Plain text after our markup stays plain (`status_cell(s) + " (a note)"`)."""
        from rich.markup import escape

        return Styled(str.__add__(self, escape(other)))


# Free text that may wrap at its spaces when a terminal is narrow; every other cell stays whole.
WRAPPING = ("Detail", "What it does")


class Ui:
    """Two consoles, stdout for results and stderr for the rest, each made on first use.
    `wide`: every column of every table, however narrow the terminal (`-o wide`)."""

    wide = False
    wide_hint = "`-o wide` shows every column"

    def __init__(self, out: Console | None = None, err: Console | None = None) -> None:
        if out is not None:
            self.out = out
        if err is not None:
            self.err = err

    @cached_property
    def out(self) -> Console:
        return _console(stderr=False)

    @cached_property
    def err(self) -> Console:
        return _console(stderr=True)

    def error(self, message: str) -> None:
        from rich.markup import escape

        self.err.print(f"[bold red]error:[/] {escape(plain(message))}", soft_wrap=True, markup=True)

    def info(self, message: str) -> None:
        """One note on stderr: word-wrapped to a terminal's width (the terminal itself broke
        a long one mid-word), never wrapped into a pipe or a file (their width is unlimited)."""
        self.err.print(plain(message, keep_newlines=True))

    @contextlib.contextmanager
    def progress(self, title: str) -> Iterator[Callable[[str], None]]:
        """A spinner on stderr for long work; every step is also kept as a line there."""
        from rich.text import Text

        title = plain(title)

        def line(text: str) -> Text:  # one line: every step is printed whole below it anyway
            return Text(text, no_wrap=True, overflow="ellipsis")

        with self.err.status(line(title)) as status:

            def report(message: str) -> None:
                message = plain(message)
                status.update(line(f"{title}: {message}"))
                self.err.print(f"  {message}", style="dim", soft_wrap=True, markup=False)

            yield report

    def json(self, data: Any) -> None:
        # Plain write: no rich markup or wrapping may alter machine-readable output.
        import json  # only for --json output: not on every start

        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def table(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        drop: Sequence[str] = (),
    ) -> None:
        """Columns in `drop` (lowest value first) go when a terminal is too narrow; no cell
        is cut or wrapped but a free-text one (`WRAPPING`), see `cli/fit.py`."""
        from rich.table import Table
        from rich.text import Text

        from nomadctl.cli.fit import fit

        cells = [[_cell(v) for v in row] for row in rows]  # plain text unless ours (Styled)
        widths = [max([len(c), *(r[i].cell_len for r in cells)]) for i, c in enumerate(columns)]
        wrap = columns[-1] if columns and columns[-1] in WRAPPING else None
        piped = self.out.width >= UNLIMITED_WIDTH
        terminal = None if self.wide or piped else self.out.width
        shown = fit(columns, widths, terminal, drop, wrap)
        if title:  # above the table, not its title: rich wraps that to the table's width
            _print_unpadded(self.out, Text(plain(title), style="table.title"))
        table = Table(box=None, header_style="bold")
        for i in shown.keep:
            free = columns[i] == wrap
            table.add_column(columns[i], overflow="fold" if free else "ignore", no_wrap=not free)
        for row in cells:
            table.add_row(*(row[i] for i in shown.keep))
        _print_unpadded(self.out, table, None if piped else shown.width)
        if shown.hidden:
            self.info(
                f"[dim]({', '.join(shown.hidden)} not shown at {terminal} columns; "
                f"{self.wide_hint})[/]"
            )


# Width of a console that is not a terminal (a file, a pipe, a CI log): no line is cut or
# wrapped there, a name is whole however long; lines are as long as their text. The file's
# own isatty() decides, not rich's is_terminal: FORCE_COLOR (set by many CI systems) makes
# that true, and COLUMNS would then still cut a table at 80.
UNLIMITED_WIDTH = 100_000


def _console(stderr: bool) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    isatty = getattr(console.file, "isatty", None)
    if not (isatty and isatty()):
        console.width = UNLIMITED_WIDTH
    return console


def _print_unpadded(console: Console, renderable: Any, width: int | None = None) -> None:
    """`renderable` line by line without the spaces rich pads every line with up to the
    table's width: a table in a file or log has no trailing blanks. `width`: render at this
    width (wider than the terminal when a table's whole cells need it)."""
    from rich.segment import Segment, Segments

    options = console.options if width is None else console.options.update_width(width)
    segments: list[Segment] = []
    for line in console.render_lines(renderable, options, pad=False):
        while line and not line[-1].control and not line[-1].text.strip():
            line.pop()
        if line:
            last = line[-1]
            line[-1] = Segment(last.text.rstrip(), last.style, last.control)
        segments += [*line, Segment.line()]
    console.print(Segments(segments), end="", crop=False)


def _cell(value: Any) -> Any:
    """A table cell: nomadctl's own markup (`Styled`) as markup, anything else as plain text."""
    from rich.text import Text

    if isinstance(value, Styled):
        return Text.from_markup(plain(value))
    return Text(plain("" if value is None else str(value)))


def status_cell(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return Styled(f"[{style}]{status}[/]") if style else status
