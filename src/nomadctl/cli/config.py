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


# Every option of every command, as a found nomadctl.toml would set it: what the setting
# decides when it chooses code, a download source, a signing key, an install method, the
# workspace's location or who may connect (it then needs the user's yes, and is refused
# without a terminal), or None (it shapes or paces the run, nothing more). "" is the root
# command's global options. tests/cli/test_found_file.py walks every Click option of every
# command and fails for one missing here, so a new option is classified when it is added.
RUNS = "what runs on this machine or the nodes"
FILE_SETTINGS: dict[str, dict[str, str | None]] = {
    "": {
        "cluster": None,
        "home": "where the workspace lives: its keys, certificates and state.json",
        "config": None,  # names the file itself: never read from one
        "version": None,
        "install_completion": None,
        "show_completion": None,
    },
    "up": {
        "region": None,
        "profile": "the AWS account and credentials used",
        "vpc_cidr": None,
        "subnet_cidr": None,
        "vpc_id": "the network every node joins, and who else is on it",
        "subnet_id": "the network every node joins, and who else is on it",
        "availability_zone": None,
        "allow_cidr": "who may reach SSH and the Nomad API",
        "client_port": "ports opened on the clients",
        "ssh_key": "the key that can log into every node",
        "servers": None,
        "clients": None,
        "server_type": None,
        "client_type": None,
        "ami": "the image every node boots",
        "root_volume_size": None,
        "server": "machines configured as servers, as root",
        "client": "machines configured as clients, as root",
        "nomad_version": "the Nomad installed on every node",
        "install_method": "how Nomad is installed on every node",
        "nomad_binary": "the binary run as root on every node",
        "edition": "the Nomad edition installed",
        "license_file": "the licence uploaded to every node",
        "nomad_region": None,
        "datacenter": None,
        "node_pool": None,
        "enable_raw_exec": "unisolated jobs on the clients",
        "docker": "whether Docker is installed on the clients",
        "ssh_user": "the user nomadctl logs in as",
        "ssh_address": None,
        "bastion": "the jump host every SSH connection goes through",
        "parallel": None,
        "ssh_wait": None,
        "leader_timeout": None,
        "acl_bootstrap": "who bootstraps ACLs, and so holds the management token",
        "local": "Nomad agents run as processes on this machine",
        "releases_url": "where the Nomad binary is downloaded from",
        "release_key": "the key a downloaded Nomad must be signed with",
        "release_key_fingerprint": "the key a downloaded Nomad must be signed with",
        "max_unavailable": None,
        "drain_deadline": None,
        "client_restart": None,
        "yes": "the plan runs without asking",
        "dry_run": None,
        "skip_configure": None,
        "json_output": None,
        "zones": None,
        "api_endpoint": None,  # the load balancer is in the plan's cost line either way
        "cpu_credits": "whether burstable instances may bill surplus CPU credits",
        "public_ip": "whether the nodes get public addresses, reachable from the internet",
        "client_instance_profile": "an IAM role and instance profile made for the clients",
        "no_snapshot": "no snapshot is saved before servers are restarted or removed",
        "keep_snapshots": "how many automatic snapshots are kept (older ones deleted)",
        "snapshot_to": "where a copy of every snapshot, with every token's secret, goes",
    },
    "certs": {
        "nomad_region": None,
        "deprecated_region": None,
        "domain": "the names the certificates vouch for",
        "days": None,
        "ca_days": None,
        "additional_dnsname": "the names the certificates vouch for",
        "additional_ipaddress": "the addresses the certificates vouch for",
        "name_constraint": "what the CA may sign for",
        "additional_domain": "what the CA may sign for",
        "force": "certificates re-issued",
        "renew": None,
        "rotate_ca": "the CA every node and client trusts",
        "finish": "the CA every node and client trusts",
        "show_gossip_key": "the gossip key printed",
        "json_output": None,
    },
    "status": {"json_output": None, "wait": None, "timeout": None},
    "env": {"shell": None, "management": "the management token exported"},
    "acl-bootstrap": {
        "show_secret": "a secret token printed",
        "user_token": None,
        "reset": "the ACL system reset",
        "user_namespace": None,
        "json_output": None,
        "timeout": None,
    },
    "ssh": {},
    "logs": {"lines": None, "follow": None},
    "down": {
        "region": None,
        "profile": "the AWS account and credentials used",
        "yes": "everything deleted without asking",
        "dry_run": None,
        "force": "hosts that do not answer forgotten",
        "ssh_wait": None,
        "json_output": None,
        "no_snapshot": "no final snapshot is saved before everything is deleted",
        "keep_snapshots": "how many automatic snapshots are kept (older ones deleted)",
        "snapshot_to": "where a copy of every snapshot, with every token's secret, goes",
    },
    "ui": {
        "no_open": None,
        "port": None,
        "address": None,  # loopback only, refused otherwise
        "management": "the browser signed in with the management token",
    },
    "recover": {
        "yes": "servers stopped and their raft peers rewritten without asking",
        "dry_run": None,
        "timeout": None,
        "json_output": None,
    },
    "list": {
        "all_regions": None,
        "region": None,
        "profile": "the AWS account and credentials used",
        "json_output": None,
    },
    "version": {"json_output": None},
    "doctor": {"json_output": None},
    "use": {},
}


NO_WORKSPACE = ("version",)  # commands that never open a workspace: `home` decides nothing
# Commands that delete or replace a cluster's state: a found file's `cluster` must not choose
# their target alone (`down --yes` typed in a cloned repository would delete the cluster its
# nomadctl.toml names).
TARGET_NEEDS_YES = {
    "down": "the cluster whose resources are deleted",
    "recover": "the cluster whose servers are stopped and rewritten",
    "restore": "the cluster whose state a snapshot replaces",
}


def _shown(value: Any) -> Any:
    return [str(v) for v in value] if isinstance(value, list | tuple) else str(value)


def risky_file_settings(cfg: FileConfig, ctx: click.Context) -> list[str]:
    """The settings `ctx`'s command (and the root's `home`) take from a discovered
    nomadctl.toml that FILE_SETTINGS says need a yes, as `name = value (what it decides)`
    lines. A value given on the command line or in the environment is the user's own and
    not listed. An option missing from FILE_SETTINGS counts as needing a yes."""
    if not cfg.discovered:
        return []
    found = []
    if "home" in cfg.globals and ctx.parent is not None and ctx.info_name not in NO_WORKSPACE:
        root = ctx.parent
        if root.get_parameter_source("home") == click.core.ParameterSource.DEFAULT:
            what = FILE_SETTINGS[""]["home"]
            found.append(f"home = {_shown(cfg.globals['home'])!r} ({what})")
    what = TARGET_NEEDS_YES.get(ctx.info_name or "")
    if what and "cluster" in cfg.globals:
        root = ctx.find_root()
        if root.get_parameter_source("cluster") == click.core.ParameterSource.DEFAULT:
            found.append(f"cluster = {_shown(cfg.globals['cluster'])!r} ({what})")
    table = FILE_SETTINGS.get(ctx.info_name or "", {})
    for param in ctx.command.params:
        name = param.name or ""
        if not isinstance(param, click.Option) or name not in ctx.params:
            continue
        what = table.get(name, "not yet classified")
        if what is None:
            continue
        if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT_MAP:
            found.append(f"{name} = {_shown(ctx.params.get(name))!r} ({what})")
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
    """A command's options by parameter name and by every long name --help shows (`json`
    for `--json`, `output` for `--output`, `no_docker` for `--no-docker`), so a key may be
    spelled either way."""
    found: dict[str, click.Option] = {}
    for p in command.params:
        if isinstance(p, click.Option) and p.name and not p.hidden and p.expose_value:
            found[p.name] = p
            for flag in [*p.opts, *p.secondary_opts]:
                if flag.startswith("--"):
                    found.setdefault(_key(flag[2:]), p)
    return found


def _value(param: click.Option, key: str, value: Any) -> Any:
    """The value for the parameter: `no_docker = true` is `docker = false`."""
    negated = any(_key(f[2:]) == key for f in param.secondary_opts if f.startswith("--"))
    return (not value) if negated and isinstance(value, bool) else value


def _type_name(param: click.Option) -> str:
    t = param.type
    choices = getattr(t, "choices", None)  # click.Choice, and -o/--output's json|table|wide
    if choices:
        return "one of " + ", ".join(map(str, choices))
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


def guard(command: click.Command) -> None:
    """Give every option of `command` named in `validate.CHECKS` its check (cli/app.py does
    it for each command as it is converted, before it parses anything)."""
    from nomadctl import validate  # not at import: `nomadctl --help` never needs it

    for param in command.params:
        check = validate.CHECKS.get(param.name or "")
        if check is not None and not isinstance(param.type, Checked):
            param.type = Checked(param.type, check)


def _scalar_problem(param: click.Option, value: Any) -> str | None:
    """Why `value` does not fit `param` ("" when only the type is wrong), None when it does."""
    t = param.type
    if isinstance(value, str) and getattr(t, "choices", None):
        pass  # a word the type knows (`output = "json"`): its own convert decides, below
    elif param.is_flag or isinstance(t, click.types.BoolParamType):
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
                checked = _check(param, sub_value, f"{raw_key}.{raw_sub}", path)
                section[param.name or sub] = _value(param, sub, checked)
        elif key == "hosts" and "up" in commands:
            _hosts(value, path, cfg.default_map.setdefault("up", {}))
        elif key in GLOBAL_KEYS:
            cfg.globals[key] = _check(group_opts[key], value, raw_key, path)
        elif key in every:
            _check(every[key], value, raw_key, path)
            for name, cmd in commands.items():
                if key in (cmd_opts := _options(cmd)):
                    param_name = cmd_opts[key].name or key
                    given = _value(cmd_opts[key], key, value)
                    cfg.default_map.setdefault(name, {}).setdefault(param_name, given)
        else:
            raise UsageError(f"{path}: unknown key {raw_key!r}")
    return cfg
