"""How `--help` looks: Click's plain help, with options grouped in sections.

Typer's rich help (boxed panels) needs rich's console, table and renderer: about 45 ms more
than Click's plain help on every `--help`, which is then twice `python -c "import typer"`
(docs/benchmarks.md, part 1). Plain help keeps what made the panels worth having: `up`'s many
options grouped under headings (a Typer `rich_help_panel` names the section, as eksctl and
kubectl group their flags), commands in the order of a cluster's life, and each command's
whole first sentence in the command list instead of Click's 45-character cut. Descriptions
wrap between words only: Click's wrapper would also break at hyphens, splitting the
`--allow-cidr` a description names across two lines.
"""

from __future__ import annotations

import textwrap
from typing import Any

import click
import typer.core

from nomadctl.cli.lazytree import LazyCommands

COMMAND_ORDER = (
    "certs",
    "up",
    "status",
    "acl-bootstrap",
    "env",
    "ui",
    "ssh",
    "logs",
    "snapshot",
    "recover",
    "down",
    "list",
    "use",
    "doctor",
    "workspace",
    "version",
)


class UsageContext:
    """Parse errors that Click raises without a context (`Option '--days' requires an
    argument`) get the command's, so the one-line message can name `nomadctl certs --help`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except click.UsageError as exc:
            if exc.ctx is None:
                exc.ctx = ctx
            raise


class OrderedGroup(UsageContext, typer.core.TyperGroup):
    """Commands in the order of a cluster's life, each with its first sentence."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(self.commands)  # TyperGroup's reads .items(): it would convert each one
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else 99)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        format_sections(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if isinstance(self.commands, LazyCommands):  # without converting each command
                hidden, text = self.commands.short_help(name, limit=formatter.width * 4)
                if not hidden:
                    rows.append((name, text))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=formatter.width * 4)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(whole_words(rows, formatter))


class SectionedCommand(UsageContext, typer.core.TyperCommand):
    """Arguments, then options without a panel, then one section per `rich_help_panel`."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        format_sections(self, ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        """Settings a found nomadctl.toml may not decide alone are confirmed first."""
        from nomadctl.cli.context import confirm_file_settings

        confirm_file_settings(ctx)
        return super().invoke(ctx)


def format_sections(
    command: click.Command, ctx: click.Context, formatter: click.HelpFormatter
) -> None:
    """`command`'s parameters under their section headings, wrapped between words."""
    sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if isinstance(param, click.Argument):
            title = "Arguments"
        else:
            title = getattr(param, "rich_help_panel", None) or "Options"
        sections.setdefault(title, []).append(record)
    for title, records in sections.items():
        if records:
            with formatter.section(title):
                formatter.write_dl(whole_words(records, formatter))


def whole_words(
    rows: list[tuple[str, str]], formatter: click.HelpFormatter
) -> list[tuple[str, str]]:
    """Rows for `formatter.write_dl` with the descriptions already wrapped to the width it would
    use, never inside a word; the leading `\\b` line tells Click to keep those lines as they are."""
    first_col = min(max(len(term) for term, _ in rows), 30) + 2  # write_dl's col_max, spacing
    width = max(formatter.width - first_col - 2, 10)
    return [
        (term, "\b\n" + textwrap.fill(text, width, break_on_hyphens=False) if text else text)
        for term, text in rows
    ]


class UnsetOrChoice(click.Choice):  # type: ignore[type-arg]
    """A Choice whose default may be "" (unset: the command decides), shown and completed as
    the choices alone: `--ssh-address [public|private]`."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return "" if value == "" else super().convert(value, param, ctx)


class OutputFormat(click.types.BoolParamType):
    """`--json`'s value: `json` or `table` (`-o json`, as kubectl and the aws CLI spell it),
    converted to the bool the commands read; true/false still work for NOMADCTL_*_JSON_OUTPUT
    and nomadctl.toml."""

    name = "format"
    choices = ("json", "table", "wide")

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> bool:
        if isinstance(value, str):
            word = value.strip().lower()
            if word == "wide":  # a table with every column, however narrow the terminal
                _wide(ctx)
                return False
            if word in self.choices:
                return word == "json"
            if word not in self.bool_states:  # BoolParamType's own: 1/0, true/false, yes/no...
                self.fail(f"{value!r} is not one of json, table, wide", param, ctx)
        return bool(super().convert(value, param, ctx))

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "]"


def _wide(ctx: click.Context | None) -> None:
    """`-o wide`: the command's tables show every column (cli/ui.py's `Ui.wide`)."""
    ui = getattr(ctx.find_root().obj if ctx is not None else None, "ui", None)
    if ui is not None:
        ui.wide = True


def output_option(flag: click.Option) -> click.Option:
    """`flag` (a `--json` switch) as one option that is also `-o/--output json|table`: given
    alone, `--json` (or `-o`) means json; its value, when one follows, chooses."""
    option = click.Option(
        ["--json", "-o", "--output", flag.name or "json_output"],
        type=OutputFormat(),
        is_flag=False,
        flag_value="json",
        default=False,
        show_default=False,
        help=(flag.help or "Print the result as JSON.").rstrip(".")
        + "; `-o json` is the same, `-o table` the default, `-o wide` a table with every column.",
    )
    option.rich_help_panel = getattr(flag, "rich_help_panel", None)  # type: ignore[attr-defined]
    return option
