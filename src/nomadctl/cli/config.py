"""`nomadctl.toml`: defaults for any option, validated once.

Precedence, highest first: command-line flag, environment variable, config file, built-in
default. The file's values become Click's `default_map`, which Click consults after the
command line and the environment (`NOMADCTL_CLUSTER`, `NOMADCTL_HOME`, and
`NOMADCTL_<COMMAND>_<OPTION>` for every command option), so the order holds by construction.

```toml
cluster = "lab"              # global options at the top level
nomad_region = "global"      # a top-level key applies to every command that has that option
[certs]                      # a table applies to one command
days = 90
additional_dnsname = ["nomad.example.com"]
```

Keys are option names with `_` or `-`. Unknown keys and wrong types are errors that name
the key and the file. Machines you already have can be listed as `[[hosts]]` tables with
`role = "server"|"client"` and `address = "IP"`, the same as `up --server/--client`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from nomadctl.errors import UsageError

CONFIG_NAME = "nomadctl.toml"
GLOBAL_KEYS = ("cluster", "home")


@dataclass
class FileConfig:
    """What a config file says: global options and per-command defaults."""

    path: Path | None = None
    globals: dict[str, Any] = field(default_factory=dict)
    default_map: dict[str, dict[str, Any]] = field(default_factory=dict)
    discovered: bool = False  # found in the current directory, not named with --config


# Settings of `up` that widen who can reach the cluster, or change what runs on (or who
# can log into) the nodes. From a nomadctl.toml that was merely found in the current
# directory (a cloned repository, a shared folder) they need the user's explicit yes.
RISKY_UP_SETTINGS = {
    "allow_cidr": "who may reach SSH and the Nomad API",
    "client_port": "ports opened on the clients",
    "enable_raw_exec": "unisolated jobs on the clients",
    "nomad_version": "the Nomad installed on every node",
    "nomad_binary": "the binary run as root on every node",
    "install_method": "how Nomad is installed on every node",
    "edition": "the Nomad edition installed",
    "license_file": "the licence uploaded to every node",
    "ami": "the image every node boots",
    "ssh_key": "the key that can log into every node",
    "ssh_user": "the user nomadctl logs in as",
    "bastion": "the jump host every SSH connection goes through",
    "server": "machines configured as servers, as root",
    "client": "machines configured as clients, as root",
}


def risky_file_settings(cfg: FileConfig, ctx: click.Context) -> list[str]:
    """The settings `ctx`'s command takes from a discovered nomadctl.toml that widen access
    or change what runs on the nodes, as `name = value (what it changes)` lines. A value
    given on the command line or in the environment is the user's own and not listed."""
    if not cfg.discovered or ctx.info_name != "up":
        return []
    found = []
    for name, what in RISKY_UP_SETTINGS.items():
        if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT_MAP:
            value = ctx.params.get(name)
            shown = [str(v) for v in value] if isinstance(value, list | tuple) else str(value)
            found.append(f"{name} = {shown!r} ({what})")
    return found


def find(explicit: Path | None, cwd: Path | None = None) -> Path | None:
    """`--config PATH` (must exist), else `./nomadctl.toml` if present, else none. A path
    that exists but is not a file (a directory named nomadctl.toml) is an error, not
    silently skipped: the user meant it to be read."""
    if explicit is not None:
        if explicit.is_dir():
            raise UsageError(f"config file {explicit} is a directory, not a TOML file")
        if not explicit.is_file():
            raise UsageError(f"config file {explicit} does not exist")
        return explicit
    candidate = (cwd or Path.cwd()) / CONFIG_NAME
    if candidate.is_dir():
        raise UsageError(
            f"{candidate} is a directory, not a TOML file; rename it or pass --config FILE"
        )
    return candidate if candidate.is_file() else None


def read(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file: not on every start

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # tomllib decodes the whole file first
        raise UsageError(
            f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); TOML files must be UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {' '.join(str(exc).split())}") from None


def _key(name: str) -> str:
    return name.replace("-", "_")


def _options(command: click.Command) -> dict[str, click.Option]:
    """A command's options by parameter name and by the names --help shows (`json` for
    `--json`, `output` for `--output`), so a key may be spelled either way."""
    found: dict[str, click.Option] = {}
    for p in command.params:
        if isinstance(p, click.Option) and p.name and not p.hidden and p.expose_value:
            found[p.name] = p
            for flag in p.opts:
                if flag.startswith("--"):
                    found.setdefault(_key(flag[2:]), p)
    return found


def _type_name(param: click.Option) -> str:
    t = param.type
    if isinstance(t, click.Choice):
        return "one of " + ", ".join(map(str, t.choices))
    if param.is_flag or isinstance(t, click.types.BoolParamType):
        return "true or false"
    if isinstance(t, click.types.IntParamType):
        return "an integer"
    if isinstance(t, click.types.FloatParamType):
        return "a number"
    return "a string"


class Checked(click.ParamType):
    """An option's own type plus one of `validate.CHECKS`: the same check for a flag, its
    NOMADCTL_* variable and nomadctl.toml (Click converts all three through the type)."""

    def __init__(self, inner: click.ParamType, check: Callable[[str], str]) -> None:
        self.inner, self.check = inner, check
        self.name = inner.name
        self.envvar_list_splitter = inner.envvar_list_splitter  # click.Path splits on ':'

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        value = self.inner.convert(value, param, ctx)
        if value is None:
            return value
        try:
            checked = self.check(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return type(value)(checked) if isinstance(value, Path) else checked

    def get_metavar(self, *args: Any, **kwargs: Any) -> str | None:
        return self.inner.get_metavar(*args, **kwargs)


def guard(group: click.Group) -> None:
    """Give every option named in `validate.CHECKS`, in every command, its check."""
    from nomadctl import validate  # not at import: `nomadctl --help` never needs it

    for cmd in [group, *group.commands.values()]:
        for param in cmd.params:
            check = validate.CHECKS.get(param.name or "")
            if check is not None and not isinstance(param.type, Checked):
                param.type = Checked(param.type, check)


def _scalar_problem(param: click.Option, value: Any) -> str | None:
    """Why `value` does not fit `param` ("" when only the type is wrong), None when it does."""
    t = param.type
    if param.is_flag or isinstance(t, click.types.BoolParamType):
        return None if isinstance(value, bool) else ""
    if isinstance(t, click.types.IntParamType):
        if not isinstance(value, int) or isinstance(value, bool):
            return ""
    elif isinstance(t, click.types.FloatParamType):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return ""
    elif not isinstance(value, str):
        return ""
    try:
        param.type.convert(value, param, None)
    except click.BadParameter as exc:
        return exc.message if isinstance(param.type, Checked) else ""
    return None


def _check(param: click.Option, value: Any, where: str, path: Path) -> Any:
    values = value if param.multiple and isinstance(value, list) else [value]
    problems = [_scalar_problem(param, v) for v in values]
    if param.multiple and not isinstance(value, list):
        problems = [""]
    reason = next((p for p in problems if p), None)
    if reason:
        raise UsageError(f"{path}: {where} {value!r}: {reason}")
    if any(p is not None for p in problems):
        want = _type_name(param)
        if param.multiple:
            want = f"a list of {want.removeprefix('a ').removeprefix('an ')} values"
        raise UsageError(f"{path}: {where} must be {want}, got {value!r}")
    return value


def _hosts(value: Any, path: Path, up: dict[str, Any]) -> None:
    """`[[hosts]]` tables (role + address) are `up --server/--client` for machines you have."""
    if not isinstance(value, list) or not all(isinstance(h, dict) for h in value):
        raise UsageError(f"{path}: hosts must be [[hosts]] tables with role and address")
    for i, host in enumerate(value, start=1):
        unknown = set(host) - {"role", "address"}
        if unknown:
            raise UsageError(f"{path}: unknown key hosts[{i}].{sorted(unknown)[0]}")
        role, address = host.get("role"), host.get("address")
        if role not in ("server", "client"):
            raise UsageError(f"{path}: hosts[{i}].role must be server or client, got {role!r}")
        if not isinstance(address, str) or not address:
            raise UsageError(f"{path}: hosts[{i}].address must be a string, got {address!r}")
        from nomadctl import validate

        try:
            address = validate.ip_address(address)
        except ValueError as exc:
            raise UsageError(f"{path}: hosts[{i}].address {address!r}: {exc}") from None
        up.setdefault(role, []).append(address)


def build(
    path: Path | None, data: dict[str, Any], group: click.Group, discovered: bool = False
) -> FileConfig:
    """Validate the file's keys against the CLI's own options and make Click's default_map."""
    cfg = FileConfig(path=path, discovered=discovered and path is not None)
    if path is None:
        return cfg
    commands = {name: cmd for name, cmd in group.commands.items() if not cmd.hidden}
    group_opts = _options(group)
    every: dict[str, click.Option] = {}
    for cmd in commands.values():
        every.update(_options(cmd))

    for raw_key, value in data.items():
        key = _key(raw_key)
        if raw_key in commands and isinstance(value, dict):
            opts = _options(commands[raw_key])
            section = cfg.default_map.setdefault(raw_key, {})
            for raw_sub, sub_value in value.items():  # a table wins over top-level keys
                sub = _key(raw_sub)
                if sub not in opts:
                    raise UsageError(
                        f"{path}: unknown key {raw_key}.{raw_sub!s} "
                        f"(`nomadctl {raw_key}` has no option --{sub.replace('_', '-')})"
                    )
                param = opts[sub]
                section[param.name or sub] = _check(param, sub_value, f"{raw_key}.{raw_sub}", path)
        elif key == "hosts" and "up" in commands:
            _hosts(value, path, cfg.default_map.setdefault("up", {}))
        elif key in GLOBAL_KEYS:
            cfg.globals[key] = _check(group_opts[key], value, raw_key, path)
        elif key in every:
            _check(every[key], value, raw_key, path)
            for name, cmd in commands.items():
                if key in (cmd_opts := _options(cmd)):
                    param_name = cmd_opts[key].name or key
                    cfg.default_map.setdefault(name, {}).setdefault(param_name, value)
        else:
            raise UsageError(f"{path}: unknown key {raw_key!r}")
    return cfg
