"""Unknown configuration keys are fatal, where and as Nomad makes them fatal.

Sources (tag and commit per Nomad version in nomad_keys.py, generated from the Go source by
tests/standin/gen_nomad_keys.py):

- command/agent/config_parse.go `ParseConfigFile` decodes each file with HCL1 into `Config`;
  `extraKeys()` then drops the keys HCL1 leaks when reading JSON (listed below: Nomad accepts
  them silently, in HCL files too) and calls helper.UnusedKeys, which walks struct and
  pointer-to-struct fields (never slices or maps) and fails on the first struct with an
  `hcl:",unusedKeys"` field holding keys: "<path> unexpected keys a, b". The path is the
  struct's key prefixed by its parents' in reverse ("server_join.server"), as UnusedKeys
  builds it. LoadConfigDir wraps it: "Error loading <file>: ...", and the agent command:
  "Error loading configuration from <path>: ...".
- `plugin "<name>" { config { ... } }` is not checked there (Plugins is a slice); on clients
  (agent.go setupClient; servers build no plugin loader) the loader validates it against the
  driver's hclspec at agent start
  (helper/pluginutils/loader/init.go validatePluginConfig, fatal: "failed to create plugin
  loader"), with HCL2's "Unsupported argument" / "Unsupported block type" diagnostics. Specs:
  drivers/docker/config.go configSpec, drivers/rawexec/driver.go configSpec.

Not modelled: type errors inside blocks the stand-in does not read, HCL1's case-insensitive
matching of a key that differs from its tag only in case (Nomad still reports it as unexpected,
as here), and the order in which several bad blocks are reported (Go: field order).
"""

from __future__ import annotations

import re
from typing import Any

from .common import VERSION
from .nomad_keys import NOMAD_KEYS

# config_parse.go extraKeys(): removed from Config.ExtraKeysHCL before the check.
TOP_IGNORED = frozenset(
    {
        "http_api_response_headers", "config", "plugin", "options", "meta", "chroot_env",
        "servers", "server_join", "template", "client", "enabled_schedulers", "start_join",
        "retry_join", "server", "datadog_tags", "telemetry", "keyring", "license", "vault",
        "consul", "service_identity", "task_identity", "default_identity",
    }
)  # fmt: skip
# ... from Client.ExtraKeysHCL (plus host_volume / host_network / fingerprint labels).
CLIENT_IGNORED = frozenset(
    {
        "stats", "host_volume", "host_network", "fingerprint", "function_denylist",
        "disable_file_sandbox", "max_stale", "wait", "wait_bounds", "block_query_wait",
        "consul_retry", "vault_retry", "nomad_retry", "template",
    }
)  # fmt: skip
SERVER_IGNORED = frozenset({"preemption_config"})


def keys_for(version: str = VERSION) -> dict[str, Any]:
    """The key data of the Nomad minor version `version` belongs to (newest known if newer)."""
    minor = ".".join(version.split("+")[0].split(".")[:2])
    if minor in NOMAD_KEYS:
        return NOMAD_KEYS[minor]

    def num(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    older = [k for k in NOMAD_KEYS if num(k) <= num(minor)] or list(NOMAD_KEYS)
    return NOMAD_KEYS[max(older, key=num)]


def _ignored(path: list[str], data: dict[str, Any]) -> frozenset[str]:
    if not path:
        labels = set((data.get("plugin") or {}) if isinstance(data.get("plugin"), dict) else ())
        return TOP_IGNORED | labels
    if path == ["client"]:
        labels: set[str] = set()
        for key in ("host_volume", "host_network", "fingerprint"):
            if isinstance(data.get(key), dict):
                labels |= set(data[key])
        return CLIENT_IGNORED | labels
    if path == ["server"]:
        return SERVER_IGNORED
    return frozenset()


def _unused(data: dict[str, Any], block: dict[str, Any], path: list[str]) -> str | None:
    for key, child in block["blocks"].items():
        if isinstance(data.get(key), dict):
            err = _unused(data[key], child, [key, *path])
            if err:
                return err
    if not block["strict"]:
        return None
    known, ignored = set(block["keys"]), _ignored(list(reversed(path)), data)
    extra = [k for k in data if k not in known and k not in ignored]
    if not extra:
        return None
    prefix = ".".join(path) + " " if path else ""
    return f"{prefix}unexpected keys {', '.join(extra)}"


def unexpected_keys(data: dict[str, Any], version: str = VERSION) -> str | None:
    """Nomad's error for one parsed, normalized config file, or None when it has none."""
    return _unused(data, keys_for(version)["config"], [])


# ------------------------------------------------------------------- driver plugin configs


def _type_ok(value: Any, typ: str) -> bool:
    """cty's conversions as HCL's JSON decoding applies them to the loader's config map."""
    if typ == "bool":
        return isinstance(value, bool) or value in ("true", "false")
    if typ == "number":
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return True
        try:
            float(value)
        except (TypeError, ValueError):
            return False
        return True
    if typ == "string":
        return isinstance(value, str | int | float | bool)
    if typ.startswith(("list(", "set(")):
        return isinstance(value, list)
    if typ.startswith("map("):
        return isinstance(value, dict)
    return True


def check_spec(value: Any, spec: dict[str, Any], where: str) -> list[str]:
    """HCL2 decoding of `value` (a body as a dict) against an hclspec object: its errors."""
    if not isinstance(value, dict):
        return [f"{where}: Unsupported value; a block body (object) is required"]
    errors = []
    for key, v in value.items():
        if key in spec["attrs"]:
            if not _type_ok(v, spec["attrs"][key]):
                errors.append(
                    f"{where}: Incorrect attribute value type; Inappropriate value for "
                    f'attribute "{key}": {spec["attrs"][key]} required.'
                )
        elif key in spec["blocks"]:
            body = spec["blocks"][key]
            items = v if isinstance(v, list) and body["kind"] != "Block" else [v]
            if body["kind"] == "BlockMap" and isinstance(v, dict):
                items = list(v.values())
            for item in items:
                errors += check_spec(item, body["body"], f"{where}.{key}")
        else:
            errors.append(
                f'{where}: Unsupported argument; An argument named "{key}" is not expected here.'
            )
    for key in spec["required"]:
        if key not in value:
            errors.append(
                f'{where}: Missing required argument; The argument "{key}" is required, '
                "but no definition was found."
            )
    return errors


def plugin_errors(plugins: dict[str, Any], version: str = VERSION) -> str | None:
    """What the plugin loader refuses at agent start, for the built-in drivers we know."""
    drivers = keys_for(version)["drivers"]
    for name, body in plugins.items():
        if name not in drivers or not isinstance(body, dict) or "config" not in body:
            continue
        errors = check_spec(body["config"], drivers[name]["config"], "config")
        if errors:
            # command/agent/plugins.go, loader.go init, init.go validatePluginConfigs
            return (
                "failed to create plugin loader: failed to initialize plugin loader: "
                f'1 error occurred: * plugin "{name}" (driver): failed to parse config: '
                + "; ".join(errors)
            )
    return None


# command/agent/config_parse.go (v1.10.5) ParseConfigFile: these string fields are turned
# into durations by convertDurations with time.ParseDuration, per file, and a bad one fails
# the load: "<label> can't parse time duration <value>". (config path, Nomad's label: the
# label of acl.role_ttl is "acl.policy_ttl" in Nomad's table, kept.) Template durations
# are not read by the stand-in.
DURATIONS = (
    (("client", "gc_interval"), "gc_interval"),
    (("acl", "token_ttl"), "acl.token_ttl"),
    (("acl", "policy_ttl"), "acl.policy_ttl"),
    (("acl", "role_ttl"), "acl.policy_ttl"),
    (("acl", "token_min_expiration_ttl"), "acl.token_min_expiration_ttl"),
    (("acl", "token_max_expiration_ttl"), "acl.token_max_expiration_ttl"),
    (("client", "server_join", "retry_interval"), "client.server_join.retry_interval"),
    (("server", "heartbeat_grace"), "server.heartbeat_grace"),
    (("server", "min_heartbeat_ttl"), "server.min_heartbeat_ttl"),
    (("server", "failover_heartbeat_ttl"), "server.failover_heartbeat_ttl"),
    (("server", "plan_rejection_tracker", "node_window"), "server.plan_rejection_tracker."
     "node_window"),
    (("server", "retry_interval"), "server.retry_interval"),
    (("server", "server_join", "retry_interval"), "server.server_join.retry_interval"),
    (("autopilot", "server_stabilization_time"), "autopilot.server_stabilization_time"),
    (("autopilot", "last_contact_threshold"), "autopilot.last_contact_threshold"),
    (("telemetry", "in_memory_collection_interval"), "telemetry.in_memory_collection_interval"),
    (("telemetry", "in_memory_retention_period"), "telemetry.in_memory_retention_period"),
    (("telemetry", "collection_interval"), "telemetry.collection_interval"),
    (("rpc", "keep_alive_interval"), "rpc.keep_alive_interval"),
    (("rpc", "connection_write_timeout"), "rpc.connection_write_timeout"),
    (("rpc", "stream_open_timeout"), "rpc.stream_open_timeout"),
    (("rpc", "stream_close_timeout"), "rpc.stream_close_timeout"),
)  # fmt: skip
_GO_UNIT = r"(?:ns|us|µs|μs|ms|s|m|h)"
_GO_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
GO_DURATION = re.compile(rf"[-+]?(?:0|(?:{_GO_NUM}{_GO_UNIT})+)")  # time.ParseDuration


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def duration_error(data: dict[str, Any]) -> str | None:
    """The first duration field of one config file that time.ParseDuration refuses: a
    number without a unit ("10", or 10 in HCL) included; "0" alone is Go's exception."""
    for path, label in DURATIONS:
        value = _at(data, path)
        if value is None or isinstance(value, bool) or value == "":
            continue
        text = str(value)
        if not GO_DURATION.fullmatch(text):
            return f"{label} can't parse time duration {text}"
    return None


def raft_protocol_error(server: dict[str, Any]) -> str | None:
    """command/agent/agent.go convertServerConfig (v1.10.5): a raft_protocol given (not 0)
    replaces the default 3, and anything but 3 is refused at start: "raft_protocol must be
    3 in Nomad v1.4 and later, got N"."""
    raw = server.get("raft_protocol")
    if raw is None or isinstance(raw, bool):
        return None
    try:
        version = int(str(raw))
    except ValueError:
        return f"raft_protocol: cannot parse {raw!r} as an int"
    if version not in (0, 3):
        return f"raft_protocol must be 3 in Nomad v1.4 and later, got {version}"
    return None
