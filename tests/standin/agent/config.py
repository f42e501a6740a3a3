"""Agent configuration: HCL/JSON files merged like Nomad's, defaults, and the startup refusals."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hcl1, strict
from .common import AgentError, as_bool, as_int, split_host_port, str_list

# ----------------------------------------------------------------------------------- config


@dataclass
class TLSConfig:
    http: bool = False
    rpc: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify_server_hostname: bool = False
    verify_https_client: bool = False


@dataclass
class AgentConfig:
    name: str
    region: str = "global"
    datacenter: str = "dc1"
    data_dir: str = ""
    bind_addr: str = "0.0.0.0"
    bind: dict[str, str] = field(default_factory=dict)  # http/rpc/serf -> listen address
    advertise: dict[str, tuple[str, int]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=lambda: {"http": 4646, "rpc": 4647, "serf": 4648})
    server_enabled: bool = False
    bootstrap_expect: int = 0
    encrypt: str = ""
    retry_join: list[str] = field(default_factory=list)
    client_enabled: bool = False
    client_servers: list[str] = field(default_factory=list)
    node_pool: str = "default"
    node_class: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    acl_enabled: bool = False
    tls: TLSConfig = field(default_factory=TLSConfig)
    leave_on_terminate: bool = False
    leave_on_interrupt: bool = False
    log_level: str = "INFO"
    plugins: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    raw_server: dict[str, Any] = field(default_factory=dict)
    raw_client: dict[str, Any] = field(default_factory=dict)

    def encrypt_key(self) -> bytes | None:
        return base64.b64decode(self.encrypt, validate=True) if self.encrypt else None


KNOWN_TOP = {
    "name",
    "region",
    "datacenter",
    "data_dir",
    "bind_addr",
    "advertise",
    "ports",
    "addresses",
    "server",
    "client",
    "acl",
    "tls",
    "plugin",
    "license_path",
    "log_level",
    "log_json",
    "log_file",
    "telemetry",
    "leave_on_terminate",
    "leave_on_interrupt",
    "disable_update_check",
    "enable_syslog",
    "enable_debug",
    "consul",
    "vault",
    "ui",
    "limits",
    "audit",
    "autopilot",
    "plugin_dir",
    "http_api_response_headers",
    "reporting",
}


def is_block(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("__is_block__"):
        return True
    return len(value) == 1 and is_block(next(iter(value.values())))


def deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            deep_merge(dst[key], value)
        else:
            dst[key] = value
    return dst


def normalize(value: Any, merge_any_dict_list: bool = False) -> Any:
    """hcl2 (or JSON) output -> plain data with every block list merged into one dict."""
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) for v in value)
        and (merge_any_dict_list or all(is_block(v) for v in value))
    ):
        merged: dict[str, Any] = {}
        for item in value:
            deep_merge(merged, normalize(item, merge_any_dict_list))
        return merged
    if isinstance(value, dict):
        return {
            k: normalize(v, merge_any_dict_list) for k, v in value.items() if k != "__is_block__"
        }
    if isinstance(value, list):
        return [normalize(v, merge_any_dict_list) for v in value]
    return value


def parse_hcl(text: str) -> dict[str, Any]:
    """HCL2 (python-hcl2), for job specifications; agent configs and ACL rules are HCL1."""
    import hcl2
    from hcl2.utils import SerializationOptions

    opts = SerializationOptions(
        strip_string_quotes=True, explicit_blocks=True, with_comments=False, preserve_heredocs=False
    )
    return hcl2.loads(text, serialization_options=opts)


def load_config_files(paths: list[str]) -> tuple[dict[str, Any], list[str]]:
    merged: dict[str, Any] = {}
    files: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(
                f for f in path.iterdir() if f.suffix in (".hcl", ".json") and f.is_file()
            )
        elif path.is_file():
            found = [path]
        else:
            raise AgentError(
                f"Error loading configuration from {p}: stat {p}: no such file or directory"
            )
        for f in found:
            try:
                text = f.read_text()
                if f.suffix == ".json":
                    data = normalize(json.loads(text), merge_any_dict_list=True)
                else:
                    data = normalize(hcl1.loads(text))
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise AgentError(
                    f"Error loading configuration from {p}: Error loading {f}: "
                    f"failed to decode HCL file {f}: {first}"
                ) from exc
            # config_parse.go: unknown keys are fatal per file (see strict.py).
            unexpected = strict.unexpected_keys(data)
            if unexpected:
                raise AgentError(
                    f"Error loading configuration from {p}: Error loading {f}: {unexpected}"
                )
            bad_duration = strict.duration_error(data)
            if bad_duration:
                raise AgentError(
                    f"Error loading configuration from {p}: Error loading {f}: {bad_duration}"
                )
            deep_merge(merged, data)
            files.append(str(f))
    return merged, files


def detect_ip() -> str:
    """What Nomad's GetPrivateIP would pick, roughly: the first global IPv4 address."""
    try:
        out = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "scope", "global"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    return m.group(1) if m else "127.0.0.1"


def build_config(raw: dict[str, Any], files: list[str], overrides: dict[str, Any]) -> AgentConfig:
    raw = deep_merge(raw, overrides)
    cfg = AgentConfig(name=str(raw.get("name") or socket.gethostname()), files=files)
    cfg.region = str(raw.get("region") or "global")
    cfg.datacenter = str(raw.get("datacenter") or "dc1")
    cfg.data_dir = str(raw.get("data_dir") or "")
    cfg.bind_addr = str(raw.get("bind_addr") or "0.0.0.0")
    cfg.log_level = str(raw.get("log_level") or "INFO").upper()
    cfg.leave_on_terminate = as_bool(raw.get("leave_on_terminate", False))
    cfg.leave_on_interrupt = as_bool(raw.get("leave_on_interrupt", False))
    cfg.ignored = sorted(k for k in raw if k not in KNOWN_TOP)
    ports = raw.get("ports") or {}
    for proto in ("http", "rpc", "serf"):
        if proto in ports:
            cfg.ports[proto] = as_int(ports[proto], f"ports.{proto}")
    if "{{" in cfg.bind_addr:
        cfg.bind_addr = "0.0.0.0"
    addresses = raw.get("addresses") or {}
    advertise = raw.get("advertise") or {}
    default_ip = cfg.bind_addr if cfg.bind_addr not in ("0.0.0.0", "::", "") else ""
    for proto in ("http", "rpc", "serf"):
        bind = str(addresses.get(proto) or cfg.bind_addr)
        cfg.bind[proto] = "0.0.0.0" if "{{" in bind else bind
        adv = str(advertise.get(proto) or "")
        if not adv or "{{" in adv:
            ip = cfg.bind[proto] if cfg.bind[proto] not in ("0.0.0.0", "::") else default_ip
            cfg.advertise[proto] = (ip or detect_ip(), cfg.ports[proto])
        else:
            cfg.advertise[proto] = split_host_port(adv, cfg.ports[proto])
    server = raw.get("server") or {}
    cfg.raw_server = server
    cfg.server_enabled = as_bool(server.get("enabled", False))
    cfg.bootstrap_expect = as_int(server.get("bootstrap_expect", 0), "server.bootstrap_expect")
    cfg.encrypt = str(server.get("encrypt") or "")
    join = server.get("server_join") or {}
    cfg.retry_join = str_list(join.get("retry_join")) + str_list(server.get("retry_join"))
    cfg.retry_join += str_list(server.get("start_join"))
    client = raw.get("client") or {}
    cfg.raw_client = client
    cfg.client_enabled = as_bool(client.get("enabled", False))
    cjoin = client.get("server_join") or {}
    cfg.client_servers = str_list(client.get("servers")) + str_list(cjoin.get("retry_join"))
    cfg.node_pool = str(client.get("node_pool") or "default")
    cfg.node_class = str(client.get("node_class") or "")
    cfg.meta = {str(k): str(v) for k, v in (client.get("meta") or {}).items()}
    cfg.acl_enabled = as_bool((raw.get("acl") or {}).get("enabled", False))
    t = raw.get("tls") or {}
    cfg.tls = TLSConfig(
        http=as_bool(t.get("http", False)),
        rpc=as_bool(t.get("rpc", False)),
        ca_file=str(t.get("ca_file") or ""),
        cert_file=str(t.get("cert_file") or ""),
        key_file=str(t.get("key_file") or ""),
        verify_server_hostname=as_bool(t.get("verify_server_hostname", False)),
        verify_https_client=as_bool(t.get("verify_https_client", False)),
    )
    cfg.plugins = raw.get("plugin") or {}
    return cfg


def validate(cfg: AgentConfig) -> None:
    """The refusals real Nomad makes at startup (messages modelled on Nomad's)."""
    if not cfg.server_enabled and not cfg.client_enabled:
        raise AgentError("Must specify either server, client or dev mode for the agent.")
    if not cfg.data_dir:
        raise AgentError('Must specify "data_dir" config option or "data-dir" CLI flag')
    if not os.path.isabs(cfg.data_dir):
        raise AgentError(f"data_dir must be given as an absolute path: found {cfg.data_dir}")
    if cfg.server_enabled and cfg.bootstrap_expect < 1:
        raise AgentError(
            f"Invalid bootstrap_expect {cfg.bootstrap_expect}: must be at least 1 "
            "(this stand-in has no manual bootstrap)"
        )
    if cfg.server_enabled and cfg.encrypt:
        try:
            key = base64.b64decode(cfg.encrypt, validate=True)
        except ValueError as exc:
            raise AgentError(f"Invalid encryption key: {exc}") from None
        if len(key) not in (16, 24, 32):
            raise AgentError(
                f"Invalid encryption key: key size must be 16, 24 or 32 bytes, got {len(key)}"
            )
    raft_error = strict.raft_protocol_error(cfg.raw_server) if cfg.server_enabled else None
    if raft_error:
        raise AgentError(f"Error starting agent: {raft_error}")
    join_conflict = _join_conflict(cfg.raw_server, cfg.raw_client)
    if join_conflict:
        raise AgentError(f"Error starting agent: {join_conflict}")
    plugin_error = strict.plugin_errors(cfg.plugins) if cfg.client_enabled else None
    if plugin_error:
        raise AgentError(f"Error starting agent: {plugin_error}")
    check_tls_files(cfg)


def _join_conflict(server: dict[str, Any], client: dict[str, Any]) -> str | None:
    """command/agent/retry_join.go retryJoiner.Validate."""
    join = server.get("server_join") or {}
    if join.get("retry_join"):
        for key, name in (
            ("retry_join", "retry_join"),
            ("start_join", "start_join"),
            ("retry_max", "retry_max"),
            ("retry_interval", "retry_interval"),
        ):
            if server.get(key):
                return (
                    f"server_join and {name} cannot both be defined; "
                    "prefer setting the server_join block"
                )
        if join.get("start_join"):
            return "retry_join and start_join cannot both be defined"
    if "start_join" in (client.get("server_join") or {}):
        return "start_join is not supported for Nomad clients"
    return None


# Go's x509 wording for what OpenSSL's verify codes mean here.
_VERIFY_ERRORS = {
    2: "certificate signed by unknown authority",  # unable to get issuer certificate
    18: "certificate signed by unknown authority",  # self-signed leaf
    19: "certificate signed by unknown authority",  # self-signed in chain
    20: "certificate signed by unknown authority",  # unable to get local issuer
    21: "certificate signed by unknown authority",  # unable to verify the first certificate
    7: "certificate signed by unknown authority",  # signature failure
    9: "certificate has expired or is not yet valid",
    10: "certificate has expired or is not yet valid",
    26: "certificate specifies an incompatible key usage",
}


def _handshake_with_self(own: ssl.SSLContext, ca_file: str) -> dict[str, Any]:
    """Present our certificate to a client that trusts only `ca_file`, in memory (no socket,
    no cryptography import: ~3 ms instead of ~120 ms per agent start). Returns the peer
    certificate as the client saw it; raises ssl.SSLCertVerificationError."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False  # names are checked below, with Nomad's message
    client.load_verify_locations(ca_file)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out)
    s = own.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = True
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                done = False
            except ssl.SSLCertVerificationError:
                raise
            except ssl.SSLError:
                if side is c:
                    raise
                done = False  # the server side learns of the client's alert; keep going
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done:
            return c.getpeercert() or {}
    raise ssl.SSLError("in-memory TLS handshake did not finish")


def check_tls_files(cfg: AgentConfig) -> None:
    t = cfg.tls
    if not (t.http or t.rpc):
        return
    for opt, path in (("ca_file", t.ca_file), ("cert_file", t.cert_file), ("key_file", t.key_file)):
        if not path:
            raise AgentError(f"Error starting agent: tls: {opt} must be set when TLS is enabled")
        if not Path(path).is_file():
            what = "Failed to read CA file" if opt == "ca_file" else "Failed to load cert/key pair"
            raise AgentError(
                f"Error starting agent: {what}: open {path}: no such file or directory"
            )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(t.ca_file)
    except ssl.SSLError:
        raise AgentError(
            f"Error starting agent: Failed to parse any CA certificates from {t.ca_file}"
        ) from None
    own = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        own.load_cert_chain(t.cert_file, t.key_file)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise AgentError(
                "Error starting agent: Failed to load cert/key pair: "
                "tls: private key does not match public key"
            ) from None
        raise AgentError(f"Error starting agent: Failed to load cert/key pair: {exc}") from None
    try:
        peer = _handshake_with_self(own, t.ca_file)
    except ssl.SSLCertVerificationError as exc:
        why = _VERIFY_ERRORS.get(exc.verify_code, exc.verify_message)
        raise AgentError(
            f"Error starting agent: {t.cert_file}: x509: {why} (not issued by {t.ca_file})"
            if "unknown authority" in why
            else f"Error starting agent: {t.cert_file}: x509: {why}"
        ) from None
    except ssl.SSLError as exc:
        raise AgentError(f"Error starting agent: Failed to load cert/key pair: {exc}") from None
    if t.verify_server_hostname:
        role = "server" if cfg.server_enabled else "client"
        want = f"{role}.{cfg.region}.nomad"
        names = [v for k, v in peer.get("subjectAltName", ()) if k == "DNS"]
        if want not in names:
            raise AgentError(
                f"Error starting agent: {t.cert_file}: x509: certificate is not valid for "
                f"{want} (verify_server_hostname is set; DNS names: "
                f"{', '.join(names) or 'none'})"
            )
