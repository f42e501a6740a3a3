"""The Click tree of a Typer app, each command converted only when it is first looked up.

Typer turns every command's signature into Click parameters up front (`inspect.signature`,
the annotations, one `click.Option` per option): about 10 ms for nomadctl's twenty commands,
an eighth of `nomadctl --help`, which only needs each command's name and first sentence.
Here the groups are built by Typer without their commands, and `commands` is a mapping that
asks Typer for a command (`typer.main.get_command_from_info`, exactly what `get_command`
would call) on first access and keeps it; `short_help` reads the same help text without
converting anything. Iterating the mapping's values (the config file's checks, the README's
reference) converts every command, as before.
"""

import copy
import inspect
from collections.abc import Callable, Iterator, MutableMapping

import click
import typer
import typer.main
from typer.models import CommandInfo, TyperInfo

Finish = Callable[[click.Command], None]


class LazyCommands(MutableMapping[str, click.Command]):
    """name -> click.Command, each built from its Typer info on first access."""

    def __init__(self, pending: dict[str, Callable[[], click.Command]], helps: dict[str, str]):
        self._pending = pending
        self._helps = helps
        self._built: dict[str, click.Command] = {}
        self._order = list(pending)  # registration order, whichever are built

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._built:
            self._built[name] = self._pending.pop(name)()  # KeyError for an unknown name
        return self._built[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._pending.pop(name, None)
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        if self._pending.pop(name, None) is None:
            del self._built[name]
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        yield from list(self._order)

    def __len__(self) -> int:
        return len(self._built) + len(self._pending)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._pending

    def short_help(self, name: str, limit: int) -> tuple[bool, str]:
        """(hidden, first sentence) as the built command gives it; a plain command (not
        hidden, no short_help of its own) is not built for it."""
        if name in self._helps and name not in self._built:
            return False, click.Command(name, help=self._helps[name]).get_short_help_str(limit)
        cmd = self[name]
        return cmd.hidden, cmd.get_short_help_str(limit=limit)


def build(app: typer.Typer, finish: Finish) -> click.Group:
    """The app's root group, commands converted on demand; `finish(cmd)` runs on each once.
    As `typer.main.get_command`: a group, with the completion options when the app has them."""
    extra = list(typer.main.get_install_completion_arguments()) if app._add_completion else []
    kw: dict[str, object] = {
        "pretty_exceptions_short": app.pretty_exceptions_short,
        "rich_markup_mode": app.rich_markup_mode,
    }
    if "suggest_commands" in inspect.signature(typer.main.get_group_from_info).parameters:
        kw["suggest_commands"] = app.suggest_commands  # Typer 0.16+; pyproject allows 0.15
    return _group(TyperInfo(app), finish, extra, **kw)


def _group(
    info: TyperInfo, finish: Finish, extra: list[click.Parameter], **kw: object
) -> click.Group:
    real = info.typer_instance
    assert real is not None
    shell = copy.copy(real)  # the group itself (callback, options, help) without its commands
    shell.registered_commands, shell.registered_groups = [], []
    bare = copy.copy(info)
    bare.typer_instance = shell
    group = typer.main.get_group_from_info(bare, **kw)  # type: ignore[arg-type]
    pending: dict[str, Callable[[], click.Command]] = {}
    helps: dict[str, str] = {}
    for command_info in real.registered_commands:
        name = _name(command_info)
        pending[name] = _command_builder(command_info, finish, kw)
        if not command_info.hidden and command_info.short_help is None:
            helps[name] = _help(command_info)
    for sub in real.registered_groups:
        solved = typer.main.solve_typer_info_defaults(sub)
        name = solved.name
        assert isinstance(name, str) and name, "every sub-app needs a name"
        pending[name] = _group_builder(sub, finish, kw)
        if not solved.hidden and solved.short_help is None and isinstance(solved.help, str):
            helps[name] = solved.help  # as get_group_from_info passes it
    group.commands = LazyCommands(pending, helps)
    group.params.extend(extra)
    finish(group)
    return group


def _name(command_info: CommandInfo) -> str:
    assert command_info.callback is not None
    return command_info.name or typer.main.get_command_name(command_info.callback.__name__)


def _help(command_info: CommandInfo) -> str:
    # as typer.main.get_command_from_info chooses it
    if command_info.help is None:
        return inspect.getdoc(command_info.callback) or ""
    return inspect.cleandoc(command_info.help)


def _command_builder(
    command_info: CommandInfo, finish: Finish, kw: dict[str, object]
) -> Callable[[], click.Command]:
    def make() -> click.Command:
        cmd = typer.main.get_command_from_info(
            command_info,
            pretty_exceptions_short=kw["pretty_exceptions_short"],  # type: ignore[arg-type]
            rich_markup_mode=kw["rich_markup_mode"],  # type: ignore[arg-type]
        )
        finish(cmd)
        return cmd

    return make


def _group_builder(
    info: TyperInfo, finish: Finish, kw: dict[str, object]
) -> Callable[[], click.Command]:
    return lambda: _group(info, finish, [], **kw)
