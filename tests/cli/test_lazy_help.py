"""`nomadctl --help` lists the commands without converting any of them (issue 26, point 10:
Typer's conversion of twenty signatures was an eighth of `--help`), and every help text is the
one Typer's own full conversion gives."""

import click
import typer.main
from click.testing import CliRunner

from nomadctl.cli import app as cli
from nomadctl.cli.lazytree import LazyCommands


def _helps(root: click.Group) -> dict[str, str]:
    out = {}
    runner = CliRunner()
    for path in ([], ["status"], ["up"], ["snapshot"], ["snapshot", "list"], ["workspace"]):
        result = runner.invoke(root, [*path, "--help"], prog_name="nomadctl", terminal_width=100)
        assert result.exit_code == 0, result.output
        out[" ".join(path)] = result.output
    return out


def test_top_level_help_converts_no_command_and_reads_as_typer_would() -> None:
    root = cli.command()
    assert isinstance(root.commands, LazyCommands)
    result = CliRunner().invoke(root, ["--help"], prog_name="nomadctl", terminal_width=100)
    assert result.exit_code == 0
    assert root.commands._built == {}  # names and first sentences only
    assert "Commands" in result.output and "snapshot" in result.output

    full = typer.main.get_command(cli.app)  # every command converted up front, as Typer does
    assert isinstance(full, click.Group)
    stack: list[click.Command] = [full]
    while stack:  # the same finishing touches command() gives each command
        current = stack.pop()
        cli._finish(current)
        if isinstance(current, click.Group):
            stack.extend(current.commands.values())
    assert _helps(cli.command()) == _helps(full)


def test_lookups_keep_the_registration_order() -> None:
    """Converting some commands first does not reorder the mapping (the README reference and
    the config file's checks walk it)."""
    root = cli.command()
    before = list(root.commands)
    assert root.commands["status"].name == "status" and "up" in root.commands
    root.commands["snapshot"]  # a sub-group, converted on its own
    assert list(root.commands) == before and len(root.commands) == len(before)
    assert before == [n for n in typer.main.get_command(cli.app).commands]  # type: ignore[attr-defined]
