"""Everything the user sees: rich tables on stdout, messages on stderr, `--json` output.

Only cli.py calls into this module; nothing here knows about AWS, SSH or HTTP.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
}


@dataclass
class Ui:
    out: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, markup=True)

    def info(self, message: str) -> None:
        self.err.print(message, soft_wrap=True)

    @contextlib.contextmanager
    def progress(self, title: str) -> Iterator[Callable[[str], None]]:
        """A spinner on stderr for long work; every step is also kept as a line there."""
        with self.err.status(title) as status:

            def report(message: str) -> None:
                status.update(f"{title}: {message}")
                self.err.print(f"  {message}", style="dim", soft_wrap=True, markup=False)

            yield report

    def json(self, data: Any) -> None:
        # Plain write: no rich markup or wrapping may alter machine-readable output.
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def table(
        self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        table = Table(title=title, title_justify="left", box=None, header_style="bold")
        for i, col in enumerate(columns):  # the last column wraps, the others stay whole
            last = i == len(columns) - 1
            table.add_column(col, overflow="fold", no_wrap=not last)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        self.out.print(table)


def status_cell(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status
