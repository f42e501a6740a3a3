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


def find(explicit: Path | None, cwd: Path | None = None) -> Path | None:
    """`--config PATH` (must exist), else `./nomadctl.toml` if present, else none."""
    if explicit is not None:
        if not explicit.is_file():
            raise UsageError(f"config file {explicit} does not exist")
        return explicit
    candidate = (cwd or Path.cwd()) / CONFIG_NAME
    return candidate if candidate.is_file() else None


def read(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file: not on every start

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None


def _key(name: str) -> str:
    return name.replace("-", "_")


def _options(command: click.Command) -> dict[str, click.Option]:
    return {
        p.name: p
        for p in command.params
        if isinstance(p, click.Option) and p.name and not p.hidden and p.expose_value
    }


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


def _check_scalar(param: click.Option, value: Any) -> bool:
    t = param.type
    if param.is_flag or isinstance(t, click.types.BoolParamType):
        return isinstance(value, bool)
    if isinstance(t, click.types.IntParamType):
        if not isinstance(value, int) or isinstance(value, bool):
            return False
    elif isinstance(t, click.types.FloatParamType):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
    elif not isinstance(value, str):
        return False
    try:
        param.type.convert(value, param, None)
    except click.BadParameter:
        return False
    return True


def _check(param: click.Option, value: Any, where: str, path: Path) -> Any:
    ok = (
        isinstance(value, list) and all(_check_scalar(param, v) for v in value)
        if param.multiple
        else _check_scalar(param, value)
    )
    if not ok:
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
        up.setdefault(role, []).append(address)


def build(path: Path | None, data: dict[str, Any], group: click.Group) -> FileConfig:
    """Validate the file's keys against the CLI's own options and make Click's default_map."""
    cfg = FileConfig(path=path)
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
                section[sub] = _check(opts[sub], sub_value, f"{raw_key}.{raw_sub}", path)
        elif key == "hosts" and "up" in commands:
            _hosts(value, path, cfg.default_map.setdefault("up", {}))
        elif key in GLOBAL_KEYS:
            cfg.globals[key] = _check(group_opts[key], value, raw_key, path)
        elif key in every:
            _check(every[key], value, raw_key, path)
            for name, cmd in commands.items():
                if key in _options(cmd):
                    cfg.default_map.setdefault(name, {}).setdefault(key, value)
        else:
            raise UsageError(f"{path}: unknown key {raw_key!r}")
    return cfg
