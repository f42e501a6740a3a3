"""Which columns of a table a terminal shows, so that no cell is ever cut (issue 26 point 3).

A table on a terminal narrower than its natural width loses its low-value columns first, in
the order the table names them (`drop`); what remains is never truncated or wrapped (an
address, a port, a name, a boolean stay whole), except one free-text column that may wrap at
its spaces (`wrap`, a "Detail"). When even that does not fit, the table is printed wider than
the terminal (the terminal folds the line; no character is lost). In a pipe or a file, and
with `-o wide`, every column is shown at its natural width. Pure arithmetic on cell widths:
the caller (`cli/ui.py`) measures them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PAD = 2  # rich's Table(box=None): one space either side of every cell
WRAP_MIN = 20  # a wrapping column is never squeezed below this (or its header)


@dataclass(frozen=True)
class Fit:
    keep: tuple[int, ...]  # indexes of the columns shown
    width: int  # the width to render at: the terminal's, or more when the kept ones need it
    hidden: tuple[str, ...] = ()  # the columns dropped, in the table's order


def fit(
    columns: Sequence[str],
    widths: Sequence[int],
    terminal: int | None,
    drop: Sequence[str] = (),
    wrap: str | None = None,
) -> Fit:
    """`widths[i]`: column i's natural width (its widest cell or header). `terminal`: None
    when every column is wanted at its natural width (a pipe, `-o wide`)."""
    every = tuple(range(len(columns)))
    natural = sum(w + PAD for w in widths)
    if terminal is None:
        return Fit(every, max(natural, 1))

    def need(keep: Sequence[int]) -> int:
        total = 0
        for i in keep:
            w = widths[i]
            if columns[i] == wrap:
                w = min(w, max(WRAP_MIN, len(columns[i])))
            total += w + PAD
        return total

    keep = list(every)
    for name in drop:
        if need(keep) <= terminal:
            break
        if name in columns:
            keep.remove(columns.index(name))
    hidden = tuple(columns[i] for i in every if i not in keep)
    return Fit(tuple(keep), max(terminal, need(keep)), hidden)
