"""A stand-in for the HashiCorp Nomad agent, for nomadctl's tests. It is NOT Nomad.

Real Nomad cannot be installed on the test machines, so nomadctl's tests upload this program
as `nomad` and run it as `nomad agent -config /etc/nomad.d`. It reads the agent HCL that
nomadctl writes, refuses the configurations real Nomad refuses (bad data_dir, bad gossip key,
missing or mismatched TLS files, certificates without the `server.<region>.nomad` /
`client.<region>.nomad` names), and serves the subset of the HTTP API that nomadctl uses over
real TLS with client-certificate checks.

What it does, in short:
- servers find each other through `retry_join` addresses (a small gossip exchange over TCP on
  the serf port, AES-GCM sealed with the `encrypt` key, so servers with different keys never
  see each other), mark a member `failed` after ~3 s of silence and `left` after a graceful
  leave;
- "raft" is a heartbeat over HTTPS on the RPC port (mutual TLS, `server.<region>.nomad` checked
  with verify_server_hostname). Once `bootstrap_expect` servers are alive they fix the voter
  set; a leader needs a majority of voters reachable and is the reachable voter with the
  newest state, lowest address on ties; an existing leader is kept while it holds quorum;
- cluster state (ACL bootstrap + reset index, tokens, policies, nodes, jobs) is written on
  the leader, pushed to followers synchronously on every write, pulled by lagging followers
  on heartbeats, and persisted in `<data_dir>/server/state.json`;
- clients register and heartbeat over the same RPC channel and become `ready` nodes, `down`
  after ~4 s of silence; jobs are stored and listed, never run.

What it does not do: schedule or run anything, a real raft log, blocking queries, namespaces
other than as labels, ACL roles, cloud auto-join (`provider=...` entries are skipped), UDP.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

VERSION = "1.11.0"
REVISION = "standin"
HEARTBEAT = 0.5  # seconds between gossip / raft / client heartbeats
FAIL_AFTER = 3.0  # a member or raft peer silent this long is failed / unreachable
NODE_TTL = 4.0  # a client node silent this long is down
CALL_TIMEOUT = 1.5


# ---------------------------------------------------------------------------------- logging


class Log:
    LEVELS: ClassVar[dict[str, int]] = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4}

    def __init__(self, level: str = "INFO") -> None:
        self.level = self.LEVELS.get(level.upper(), 2)
        self._lock = threading.Lock()

    def __call__(self, level: str, msg: str) -> None:
        if self.LEVELS[level] < self.level:
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.ui(f"    {ts} {f'[{level}]':<8}{msg}")

    def ui(self, line: str) -> None:
        with self._lock:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


class AgentError(Exception):
    """A configuration or startup problem: the agent prints it and exits 1."""


class ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


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

    def encrypt_key(self) -> bytes | None:
        return base64.b64decode(self.encrypt, validate=True) if self.encrypt else None


KNOWN_TOP = {
    "name", "region", "datacenter", "data_dir", "bind_addr", "advertise", "ports", "addresses",
    "server", "client", "acl", "tls", "plugin", "license_path", "log_level", "log_json",
    "log_file", "telemetry", "leave_on_terminate", "leave_on_interrupt", "disable_update_check",
    "enable_syslog", "enable_debug", "consul", "vault", "ui", "limits", "audit", "autopilot",
    "plugin_dir", "http_api_response_headers", "reporting",
}


def _is_block(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("__is_block__"):
        return True
    return len(value) == 1 and _is_block(next(iter(value.values())))


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _deep_merge(dst[key], value)
        else:
            dst[key] = value
    return dst


def normalize(value: Any, merge_any_dict_list: bool = False) -> Any:
    """hcl2 (or JSON) output -> plain data with every block list merged into one dict."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value) and (
        merge_any_dict_list or all(_is_block(v) for v in value)
    ):
        merged: dict[str, Any] = {}
        for item in value:
            _deep_merge(merged, normalize(item, merge_any_dict_list))
        return merged
    if isinstance(value, dict):
        return {
            k: normalize(v, merge_any_dict_list) for k, v in value.items() if k != "__is_block__"
        }
    if isinstance(value, list):
        return [normalize(v, merge_any_dict_list) for v in value]
    return value


def parse_hcl(text: str) -> dict[str, Any]:
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
                    data = normalize(parse_hcl(text))
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise AgentError(f"Error loading configuration from {p}: {f}: {first}") from exc
            _deep_merge(merged, data)
            files.append(str(f))
    return merged, files


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def _int(v: Any, what: str) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise AgentError(f"Error loading configuration: {what}: invalid integer {v!r}") from None


def _strlist(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v]


def split_host_port(s: str, default_port: int) -> tuple[str, int]:
    s = s.strip()
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if s.count(":") == 1:
        host, port = s.split(":")
        return host, int(port)
    return s, default_port


def detect_ip() -> str:
    """What Nomad's GetPrivateIP would pick, roughly: the first global IPv4 address."""
    try:
        out = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "scope", "global"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    return m.group(1) if m else "127.0.0.1"


def build_config(raw: dict[str, Any], files: list[str], overrides: dict[str, Any]) -> AgentConfig:
    raw = _deep_merge(raw, overrides)
    cfg = AgentConfig(name=str(raw.get("name") or socket.gethostname()), files=files)
    cfg.region = str(raw.get("region") or "global")
    cfg.datacenter = str(raw.get("datacenter") or "dc1")
    cfg.data_dir = str(raw.get("data_dir") or "")
    cfg.bind_addr = str(raw.get("bind_addr") or "0.0.0.0")
    cfg.log_level = str(raw.get("log_level") or "INFO").upper()
    cfg.leave_on_terminate = _bool(raw.get("leave_on_terminate", False))
    cfg.leave_on_interrupt = _bool(raw.get("leave_on_interrupt", False))
    cfg.ignored = sorted(k for k in raw if k not in KNOWN_TOP)
    ports = raw.get("ports") or {}
    for proto in ("http", "rpc", "serf"):
        if proto in ports:
            cfg.ports[proto] = _int(ports[proto], f"ports.{proto}")
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
    cfg.server_enabled = _bool(server.get("enabled", False))
    cfg.bootstrap_expect = _int(server.get("bootstrap_expect", 0), "server.bootstrap_expect")
    cfg.encrypt = str(server.get("encrypt") or "")
    join = server.get("server_join") or {}
    cfg.retry_join = _strlist(join.get("retry_join")) + _strlist(server.get("retry_join"))
    cfg.retry_join += _strlist(server.get("start_join"))
    client = raw.get("client") or {}
    cfg.client_enabled = _bool(client.get("enabled", False))
    cjoin = client.get("server_join") or {}
    cfg.client_servers = _strlist(client.get("servers")) + _strlist(cjoin.get("retry_join"))
    cfg.node_pool = str(client.get("node_pool") or "default")
    cfg.node_class = str(client.get("node_class") or "")
    cfg.meta = {str(k): str(v) for k, v in (client.get("meta") or {}).items()}
    cfg.acl_enabled = _bool((raw.get("acl") or {}).get("enabled", False))
    t = raw.get("tls") or {}
    cfg.tls = TLSConfig(
        http=_bool(t.get("http", False)),
        rpc=_bool(t.get("rpc", False)),
        ca_file=str(t.get("ca_file") or ""),
        cert_file=str(t.get("cert_file") or ""),
        key_file=str(t.get("key_file") or ""),
        verify_server_hostname=_bool(t.get("verify_server_hostname", False)),
        verify_https_client=_bool(t.get("verify_https_client", False)),
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
    check_tls_files(cfg)


def _dns_names(cert: Any) -> list[str]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def check_tls_files(cfg: AgentConfig) -> None:
    t = cfg.tls
    if not (t.http or t.rpc):
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for opt, path in (("ca_file", t.ca_file), ("cert_file", t.cert_file), ("key_file", t.key_file)):
        if not path:
            raise AgentError(f"Error starting agent: tls: {opt} must be set when TLS is enabled")
        if not Path(path).is_file():
            what = "Failed to read CA file" if opt == "ca_file" else "Failed to load cert/key pair"
            raise AgentError(
                f"Error starting agent: {what}: open {path}: no such file or directory"
            )
    try:
        cas = x509.load_pem_x509_certificates(Path(t.ca_file).read_bytes())
    except ValueError:
        raise AgentError(
            f"Error starting agent: Failed to parse any CA certificates from {t.ca_file}"
        ) from None
    try:
        cert = x509.load_pem_x509_certificate(Path(t.cert_file).read_bytes())
        key = serialization.load_pem_private_key(Path(t.key_file).read_bytes(), password=None)
    except ValueError as exc:
        raise AgentError(f"Error starting agent: Failed to load cert/key pair: {exc}") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise AgentError(
            "Error starting agent: Failed to load cert/key pair: "
            "tls: private key does not match public key"
        )
    issued = False
    for ca in cas:
        with contextlib.suppress(Exception):
            cert.verify_directly_issued_by(ca)
            issued = True
    if not issued:
        raise AgentError(
            f"Error starting agent: {t.cert_file}: x509: certificate signed by unknown authority"
            f" (not issued by {t.ca_file})"
        )
    if t.verify_server_hostname:
        role = "server" if cfg.server_enabled else "client"
        want = f"{role}.{cfg.region}.nomad"
        if want not in _dns_names(cert):
            raise AgentError(
                f"Error starting agent: {t.cert_file}: x509: certificate is not valid for "
                f"{want} (verify_server_hostname is set; DNS names: "
                f"{', '.join(_dns_names(cert)) or 'none'})"
            )


def server_ssl_context(t: TLSConfig, require_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(t.cert_file, t.key_file)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(t.ca_file)
    return ctx


def client_ssl_context(t: TLSConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(t.ca_file)
    ctx.load_cert_chain(t.cert_file, t.key_file)
    ctx.check_hostname = t.verify_server_hostname
    return ctx


# -------------------------------------------------------------------------------- transport


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    peer: str
    peer_names: list[str] | None  # DNS SANs of the caller's certificate; None without TLS

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    ctype: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def ok(obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(200, json.dumps(obj).encode(), "application/json", headers or {})


def text_error(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: Listener

    def _serve(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        names: list[str] | None = None
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert() or {}
            names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        req = Request(
            self.command, parts.path, query, {k.lower(): v for k, v in self.headers.items()},
            body, f"{self.client_address[0]}:{self.client_address[1]}", names,
        )
        try:
            resp = self.server.dispatch(req)
        except ApiError as exc:
            resp = text_error(exc.status, exc.text)
        except Exception as exc:
            self.server.log("ERROR", f"{self.server.label}: {req.method} {req.path}: {exc!r}")
            resp = text_error(500, str(exc))
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log("TRACE", f"{self.server.label}: request {format % args}")


class Listener(ThreadingHTTPServer):
    """HTTP(S) listener; the TLS handshake runs in the connection's thread, not in accept()."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, addr: tuple[str, int], dispatch: Callable[[Request], Response],
        ctx: ssl.SSLContext | None, log: Log, label: str,
    ) -> None:
        self.dispatch, self.ctx, self.log, self.label = dispatch, ctx, log, label
        super().__init__(addr, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ctx is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            self.log("WARN", f"{self.label}: TLS handshake error from "
                             f"{client_address[0]}:{client_address[1]}: {exc}")
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.log("DEBUG", f"{self.label}: connection from {client_address[0]} ended with "
                          f"{sys.exc_info()[1]!r}")

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, args=(0.2,), daemon=True).start()


class _Conn(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, timeout: float, ctx: ssl.SSLContext | None,
                 sni: str | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ctx, self._sni = ctx, sni

    def connect(self) -> None:
        super().connect()
        if self._ctx is not None:
            self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._sni or self.host)


def http_call(host: str, port: int, method: str, path: str, body: bytes | None = None,
              ctx: ssl.SSLContext | None = None, sni: str | None = None,
              timeout: float = CALL_TIMEOUT) -> tuple[int, bytes]:
    conn = _Conn(host, port, timeout, ctx, sni)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Rpc:
    """The internal channel: JSON over HTTP(S) on the RPC port, mutual TLS when tls.rpc."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.ctx = client_ssl_context(cfg.tls) if cfg.tls.rpc else None
        self.sni = f"server.{cfg.region}.nomad" if cfg.tls.verify_server_hostname else None

    def call(self, addr: str, path: str, payload: Any = None,
             timeout: float = CALL_TIMEOUT) -> Any:
        host, port = split_host_port(addr, 4647)
        body = None if payload is None else json.dumps(payload).encode()
        status, data = http_call(host, port, "GET" if body is None else "POST", path, body,
                                 self.ctx, self.sni, timeout)
        if status != 200:
            raise ApiError(status, data.decode(errors="replace"))
        return json.loads(data or b"null")


class GossipError(Exception):
    pass


def seal(key: bytes | None, obj: Any) -> bytes:
    data = json.dumps(obj).encode()
    if key is None:
        return b"P" + data
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return b"E" + nonce + AESGCM(key).encrypt(nonce, data, b"serf")


def unseal(key: bytes | None, blob: bytes) -> Any:
    if not blob:
        raise GossipError("empty message")
    if blob[:1] == b"P":
        if key is not None:
            raise GossipError("Encryption is configured but remote state is not encrypted")
        return json.loads(blob[1:])
    if key is None:
        raise GossipError("Remote state is encrypted and encryption is not configured")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return json.loads(AESGCM(key).decrypt(blob[1:13], blob[13:], b"serf"))
    except InvalidTag:
        raise GossipError("failed to decrypt message: No installed keys could decrypt") from None


# ---------------------------------------------------------------------------------- ACLs

NS_READ = {"list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume",
           "read-job-scaling", "list-scaling-policies", "read-scaling-policy",
           "host-volume-read"}
NS_WRITE = NS_READ | {"submit-job", "dispatch-job", "read-logs", "read-fs", "alloc-exec",
                      "alloc-lifecycle", "csi-mount-volume", "csi-write-volume", "scale-job",
                      "submit-recommendation", "host-volume-register"}
NS_SCALE = {"list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job"}
LEVEL = {"": 0, "read": 1, "write": 2}


@dataclass
class Acl:
    management: bool = False
    namespaces: dict[str, set[str]] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)  # agent/node/operator/... -> level

    def allows(self, scope: str, level: str) -> bool:
        if self.management:
            return True
        have = self.levels.get(scope, "")
        return have != "deny" and LEVEL.get(have, 0) >= LEVEL[level]

    def allows_ns(self, ns: str, cap: str) -> bool:
        if self.management:
            return True
        caps = self.namespaces.get(ns)
        if caps is None:
            matches = [p for p in self.namespaces if fnmatch.fnmatchcase(ns, p)]
            if not matches:
                return False
            caps = self.namespaces[max(matches, key=lambda p: len(p.replace("*", "")))]
        return "deny" not in caps and cap in caps


def parse_rules(text: str) -> dict[str, Any]:
    text = text.strip()
    if text.startswith("{"):
        return normalize(json.loads(text), merge_any_dict_list=True)
    return normalize(parse_hcl(text))


def acl_from_rules(rules: list[str]) -> Acl:
    acl = Acl()
    for text in rules:
        parsed = parse_rules(text)
        for ns, spec in (parsed.get("namespace") or {}).items():
            caps = acl.namespaces.setdefault(ns, set())
            policy = str(spec.get("policy") or "")
            caps |= {"deny"} if policy == "deny" else set()
            caps |= {"read": NS_READ, "write": NS_WRITE, "scale": NS_SCALE}.get(policy, set())
            caps |= set(_strlist(spec.get("capabilities")))
        for scope in ("agent", "node", "operator", "quota", "plugin"):
            policy = str((parsed.get(scope) or {}).get("policy") or "")
            old = acl.levels.get(scope, "")
            if policy == "deny" or old == "deny":
                acl.levels[scope] = "deny"
            elif LEVEL.get(policy, 0) > LEVEL.get(old, 0):
                acl.levels[scope] = policy
    return acl


# --------------------------------------------------------------------------------- state


@dataclass
class ClusterState:
    """Replicated cluster state; lives on the leader, copied to followers."""

    index: int = 0
    term: int = 0
    voters: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {name, rpc}
    acl_bootstrap_index: int = 0
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # accessor -> token
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<ns>/<id>" -> job

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClusterState:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def token_by_secret(self, secret: str) -> dict[str, Any] | None:
        return next((t for t in self.tokens.values() if t["SecretID"] == secret), None)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_atomic(path: Path, data: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


def read_or_create_id(path: Path) -> str:
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    value = str(uuid.uuid4())
    write_atomic(path, value)
    return value


def ip_key(addr: str) -> tuple[int, ...]:
    host, port = split_host_port(addr, 0)
    try:
        return (*(int(p) for p in host.split(".")), port)
    except ValueError:
        return (1 << 30, port)


# ------------------------------------------------------------------------------ servers


@dataclass
class Member:
    name: str
    addr: str
    port: int
    tags: dict[str, str]
    boot: str
    last_seen: float
    left: bool = False

    def status(self, now: float) -> str:
        if self.left:
            return "left"
        return "alive" if now - self.last_seen < FAIL_AFTER else "failed"

    def to_api(self, now: float) -> dict[str, Any]:
        return {
            "Name": self.name, "Addr": self.addr, "Port": self.port, "Status": self.status(now),
            "Tags": dict(self.tags), "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
            "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
        }


@dataclass
class RaftPeer:
    id: str
    name: str
    rpc: str
    term: int = 0
    leader: bool = False
    index: int = 0
    voters: dict[str, dict[str, str]] = field(default_factory=dict)
    last_ok: float = -1e9  # last successful outgoing heartbeat


class ServerRole:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        cfg = self.cfg = agent.cfg
        self.log = agent.log
        self.lock = threading.RLock()
        self.dir = Path(cfg.data_dir) / "server"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.id = read_or_create_id(self.dir / "node-id")
        self.key = cfg.encrypt_key()
        self.rpc_addr = f"{cfg.advertise['rpc'][0]}:{cfg.advertise['rpc'][1]}"
        self.member_name = f"{cfg.name}.{cfg.region}"
        self.state = self._load_state()
        self.members: dict[str, Member] = {}
        self.peers: dict[str, RaftPeer] = {}
        self.leader_id: str | None = None
        self.is_leader = False
        self.leader_since = 0.0
        self.node_seen: dict[str, float] = {}
        self.workers: set[str] = set()
        self.self_targets: set[str] = set()
        self.voted_term = self.state.term
        self.voted: tuple[str, float] = ("", -1e9)  # whom we voted for last, and when
        self.next_election = 0.0

    # -- persistence
    def _load_state(self) -> ClusterState:
        path = self.dir / "state.json"
        if path.is_file():
            try:
                return ClusterState.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError) as exc:
                self.log("WARN", f"nomad: ignoring unreadable {path}: {exc}")
        return ClusterState()

    def _persist(self) -> None:
        write_atomic(self.dir / "state.json", json.dumps(asdict(self.state)))

    # -- gossip
    def self_member(self) -> dict[str, Any]:
        cfg = self.cfg
        tags = {
            "role": "nomad", "region": cfg.region, "dc": cfg.datacenter, "build": VERSION,
            "revision": REVISION, "vsn": "1", "mvn": "1", "raft_vsn": "3", "id": self.id,
            "rpc_addr": cfg.advertise["rpc"][0], "port": str(cfg.advertise["rpc"][1]),
            "expect": str(cfg.bootstrap_expect),
        }
        return {"name": self.member_name, "addr": cfg.advertise["serf"][0],
                "port": cfg.advertise["serf"][1], "boot": self.agent.boot, "tags": tags}

    def known_serf(self) -> list[str]:
        with self.lock:
            return [f"{m.addr}:{m.port}" for m in self.members.values() if not m.left]

    def observe(self, info: dict[str, Any], now: float) -> None:
        if info["name"] == self.member_name:
            return
        with self.lock:
            m = self.members.get(info["name"])
            if m is not None and m.left and m.boot == info["boot"]:
                return
            if m is None or m.status(now) != "alive":
                self.log("INFO", f"nomad: serf: EventMemberJoin: {info['name']} {info['addr']}")
            self.members[info["name"]] = Member(
                info["name"], info["addr"], int(info["port"]), dict(info["tags"]),
                info["boot"], now,
            )

    def serf_dispatch(self, req: Request) -> Response:
        if req.path != "/serf/ping":
            return text_error(404, "Invalid URL")
        try:
            msg = unseal(self.key, req.body)
        except (GossipError, ValueError) as exc:
            self.log("WARN", f"nomad: memberlist: failed to receive: {exc} from={req.peer}")
            return text_error(400, str(exc))
        now = time.monotonic()
        if msg.get("type") == "leave":
            with self.lock:
                m = self.members.get(msg["member"]["name"])
                if m is not None and m.boot == msg["member"]["boot"]:
                    m.left = True
                    self.log("INFO", f"nomad: serf: EventMemberLeave: {m.name} {m.addr}")
        else:
            self.observe(msg["member"], now)
            self.learn(msg.get("known", []))
        reply = {"member": self.self_member(), "known": self.known_serf()}
        return Response(200, seal(self.key, reply), "application/octet-stream")

    def learn(self, addrs: list[str]) -> None:
        for a in addrs:
            self.ensure_worker(f"serf:{a}")

    def gossip_once(self, target: str) -> bool:
        """Ping one serf address; returns False when the target turned out to be us."""
        host, port = split_host_port(target, 4648)
        with contextlib.suppress(OSError):
            host = socket.gethostbyname(host)
        body = seal(self.key, {"type": "ping", "member": self.self_member(),
                               "known": self.known_serf()})
        try:
            status, data = http_call(host, port, "POST", "/serf/ping", body)
            if status != 200:
                raise GossipError(data.decode(errors="replace"))
            reply = unseal(self.key, data)
        except (OSError, GossipError, ValueError, http.client.HTTPException) as exc:
            self.log("TRACE", f"nomad: memberlist: ping {target} failed: {exc}")
            return True
        if reply["member"]["name"] == self.member_name:
            return False
        self.observe(reply["member"], time.monotonic())
        self.learn(reply.get("known", []))
        return True

    def leave(self) -> None:
        body = seal(self.key, {"type": "leave", "member": self.self_member()})
        targets = self.known_serf()
        self.log("INFO", f"nomad: serf: EventMemberLeave: {self.member_name} (telling "
                         f"{len(targets)} members)")
        for t in targets:
            host, port = split_host_port(t, 4648)
            with contextlib.suppress(OSError, http.client.HTTPException):
                http_call(host, port, "POST", "/serf/ping", body, timeout=1.0)

    # -- raft
    def raft_info(self) -> dict[str, Any]:
        with self.lock:
            return {"id": self.id, "name": self.member_name, "rpc": self.rpc_addr,
                    "term": self.state.term, "leader": self.is_leader,
                    "index": self.state.index, "voters": self.state.voters}

    def _note_peer(self, info: dict[str, Any], ok_now: float | None) -> RaftPeer:
        with self.lock:
            p = self.peers.get(info["id"]) or RaftPeer(info["id"], info["name"], info["rpc"])
            p.name, p.rpc, p.term = info["name"], info["rpc"], info["term"]
            p.leader, p.index, p.voters = info["leader"], info["index"], info["voters"]
            if ok_now is not None:
                p.last_ok = ok_now
            self.peers[p.id] = p
            return p

    def raft_once(self, rpc_addr: str) -> None:
        try:
            reply = self.agent.rpc.call(rpc_addr, "/raft/heartbeat", self.raft_info())
        except (OSError, ApiError, ValueError, http.client.HTTPException) as exc:
            self.log("TRACE", f"nomad.raft: heartbeat to {rpc_addr} failed: {exc}")
            return
        if reply["id"] == self.id:
            self.self_targets.add(rpc_addr)
            return
        peer = self._note_peer(reply, time.monotonic())
        if peer.leader and (peer.term, peer.index) > (self.state.term, self.state.index):
            self.pull_snapshot(peer)

    def pull_snapshot(self, peer: RaftPeer) -> None:
        try:
            snap = self.agent.rpc.call(peer.rpc, "/raft/snapshot", timeout=3.0)
        except (OSError, ApiError, ValueError, http.client.HTTPException) as exc:
            self.log("WARN", f"nomad.raft: failed to pull snapshot from {peer.rpc}: {exc}")
            return
        self.install(snap)

    def install(self, snap: dict[str, Any]) -> bool:
        new = ClusterState.from_dict(snap)
        with self.lock:
            if self.is_leader or (new.term, new.index) <= (self.state.term, self.state.index):
                return False
            self.state = new
            self._persist()
        self.log("DEBUG", f"nomad.raft: installed state index={new.index} term={new.term}")
        return True

    def rpc_dispatch(self, req: Request) -> Response:
        if self.cfg.tls.rpc and self.cfg.tls.verify_server_hostname:
            server_name = f"server.{self.cfg.region}.nomad"
            allowed = {server_name}
            if not req.path.startswith("/raft/"):
                allowed.add(f"client.{self.cfg.region}.nomad")
            if not allowed & set(req.peer_names or []):
                self.log("WARN", f"nomad.rpc: rejecting {req.peer}: certificate names "
                                 f"{req.peer_names} do not include {sorted(allowed)}")
                return text_error(403, "rpc error: Permission denied: certificate not valid")
        if req.path == "/raft/heartbeat":
            self._note_peer(req.json(), None)
            return ok(self.raft_info())
        if req.path == "/raft/vote":
            return ok({"granted": self.grant_vote(req.json())})
        if req.path == "/raft/snapshot":
            with self.lock:
                return ok(asdict(self.state))
        if req.path == "/raft/install":
            self.install(req.json())
            return ok({"index": self.state.index})
        if req.path == "/rpc/http":
            return self.agent.api.from_forward(req.json())
        if req.path == "/rpc/node":
            return self.node_update(req.json())
        if req.path == "/rpc/resolve":
            return ok(_acl_dump(self.agent.api.resolve(req.json()["token"])))
        return text_error(404, "Invalid URL")

    def raft_targets(self) -> set[str]:
        with self.lock:
            targets = {v["rpc"] for v in self.state.voters.values()}
            now = time.monotonic()
            for m in self.members.values():
                if m.status(now) == "alive" and m.tags.get("role") == "nomad":
                    targets.add(f"{m.tags['rpc_addr']}:{m.tags['port']}")
        return targets - {self.rpc_addr} - self.self_targets

    # -- workers
    def ensure_worker(self, key: str) -> None:
        with self.lock:
            if key in self.workers:
                return
            self.workers.add(key)
        threading.Thread(target=self._worker, args=(key,), daemon=True).start()

    def _worker(self, key: str) -> None:
        kind, _, target = key.partition(":")
        stop = self.agent.stop
        while not stop.is_set():
            if kind == "serf":
                if not self.gossip_once(target):
                    return
            elif target in self.self_targets:
                return
            else:
                self.raft_once(target)
            stop.wait(HEARTBEAT)

    def start(self) -> None:
        for entry in self.cfg.retry_join:
            if "provider=" in entry:
                self.log("WARN", f"nomad: discover: cloud auto-join is not supported by the "
                                 f"stand-in, skipping {entry!r}")
                continue
            self.ensure_worker(f"serf:{entry}")
        threading.Thread(target=self._tick_loop, daemon=True).start()

    def _tick_loop(self) -> None:
        while not self.agent.stop.wait(HEARTBEAT / 2):
            for t in self.raft_targets():
                self.ensure_worker(f"raft:{t}")
            try:
                self.tick()
            except Exception as exc:
                self.log("ERROR", f"nomad: leader loop error: {exc!r}")

    # -- election
    def alive_servers(self, now: float) -> dict[str, dict[str, str]]:
        out = {self.id: {"name": self.member_name, "rpc": self.rpc_addr}}
        for m in self.members.values():
            if (m.status(now) == "alive" and m.tags.get("role") == "nomad"
                    and m.tags.get("region") == self.cfg.region):
                rpc = f"{m.tags['rpc_addr']}:{m.tags['port']}"
                out[m.tags["id"]] = {"name": m.name, "rpc": rpc}
        return out

    def tick(self) -> None:
        now = time.monotonic()
        become = False
        with self.lock:
            reachable = {pid for pid, p in self.peers.items() if now - p.last_ok < FAIL_AFTER}
            if not self.state.voters:
                adopt = next((self.peers[p].voters for p in reachable
                              if self.id in self.peers[p].voters), None)
                alive = self.alive_servers(now)
                if adopt:
                    self.state.voters = dict(adopt)
                    self._persist()
                elif (len(alive) >= self.cfg.bootstrap_expect
                      and not any(self.peers[p].voters for p in reachable)):
                    self.state.voters = alive
                    self.state.index = max(self.state.index, 1)
                    self._persist()
                    names = ", ".join(sorted(v["name"] for v in alive.values()))
                    self.log("INFO", f"nomad: found expected number of peers, attempting to "
                                     f"bootstrap cluster...: peers=\"{names}\"")
            leader, become = self._elect(reachable)
            old = self.leader_id
            self.leader_id = leader
            if self.is_leader and leader != self.id:
                self.is_leader = False
                self.log("INFO", "nomad: cluster leadership lost")
        if become and now >= self.next_election:
            self.next_election = now + 2 * HEARTBEAT
            self._run_election()
        elif leader != old:
            rpc = self.leader_rpc()
            self.log("INFO", f"nomad.raft: leader is now {rpc or 'unknown (no leader)'}")
        if self.is_leader:
            self._leader_duties(now)

    def _elect(self, reachable: set[str]) -> tuple[str | None, bool]:
        voters = self.state.voters
        if self.id not in voters:
            claim = [p for p in reachable if self.peers[p].leader]
            return (claim[0] if claim else None), False
        up = {self.id} | (reachable & set(voters))
        if 2 * len(up) <= len(voters):
            return None, False

        def info(pid: str) -> tuple[int, int, str]:
            if pid == self.id:
                return self.state.term, self.state.index, self.rpc_addr
            p = self.peers[pid]
            return p.term, p.index, p.rpc

        claims = [p for p in up if (self.is_leader if p == self.id else self.peers[p].leader)]
        if claims:
            best = max(claims, key=lambda p: (info(p)[0], [-x for x in ip_key(info(p)[2])]))
            return best, False
        cand = min(up, key=lambda p: (-info(p)[1], ip_key(info(p)[2])))
        return cand, cand == self.id

    def grant_vote(self, cand: dict[str, Any]) -> bool:
        """Raft's vote rules, simplified: one vote per term, only for an up-to-date candidate,
        and none while this server still follows a live leader."""
        now = time.monotonic()
        with self.lock:
            if cand["term"] <= self.voted_term or cand["index"] < self.state.index:
                return False
            if self.is_leader:
                return False
            lead = self.peers.get(self.leader_id or "")
            if lead and lead.id != cand["id"] and lead.leader and now - lead.last_ok < FAIL_AFTER:
                return False
            if self.voted[0] != cand["id"] and now - self.voted[1] < 3 * HEARTBEAT:
                return False  # give the candidate we just voted for time to announce itself
            self.voted_term = cand["term"]
            self.voted = (cand["id"], now)
            return True

    def _run_election(self) -> None:
        with self.lock:
            term = max([self.state.term, self.voted_term] + [p.term for p in self.peers.values()])
            term += 1
            self.voted_term = term
            self.voted = (self.id, time.monotonic())
            request = {"id": self.id, "term": term, "index": self.state.index}
            others = [v["rpc"] for k, v in self.state.voters.items() if k != self.id]
            needed = len(self.state.voters) // 2 + 1
        grants: list[bool] = []

        def ask(addr: str) -> None:
            with contextlib.suppress(OSError, ApiError, ValueError, http.client.HTTPException):
                grants.append(bool(self.agent.rpc.call(addr, "/raft/vote", request)["granted"]))

        threads = [threading.Thread(target=ask, args=(a,), daemon=True) for a in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CALL_TIMEOUT + 0.5)
        votes = 1 + sum(grants)
        if votes < needed:
            self.log("DEBUG", f"nomad.raft: election for term {term} lost: {votes}/{needed}")
            return
        self._become_leader(term)

    def _become_leader(self, term: int) -> None:
        with self.lock:
            if self.state.term >= term:
                return
            self.is_leader = True
            self.leader_id = self.id
            self.leader_since = time.monotonic()
            self.node_seen = {}

        def fn(st: ClusterState, idx: int) -> None:
            st.term = term

        self.apply(fn)
        self.log("INFO", f"nomad.raft: entering leader state: leader={self.rpc_addr} term={term}")
        self.log("INFO", "nomad: cluster leadership acquired")

    def leader_rpc(self) -> str:
        with self.lock:
            if self.leader_id is None:
                return ""
            if self.leader_id == self.id:
                return self.rpc_addr
            p = self.peers.get(self.leader_id)
            return p.rpc if p else ""

    def _leader_duties(self, now: float) -> None:
        with self.lock:
            alive = self.alive_servers(now)
            reachable = {pid for pid, p in self.peers.items() if now - p.last_ok < FAIL_AFTER}
            add = {k: v for k, v in alive.items()
                   if k not in self.state.voters and (k == self.id or k in reachable)}
            left = {m.tags.get("id") for m in self.members.values() if m.left}
            remove = {k for k in self.state.voters if k in left}
            stale = {k for k, v in self.state.voters.items()
                     for n in add.values() if v["rpc"] == n["rpc"]}
            grace = now - self.leader_since > NODE_TTL
            down = [nid for nid, n in self.state.nodes.items() if n["Status"] == "ready"
                    and grace and now - self.node_seen.get(nid, self.leader_since) > NODE_TTL]
        if add or remove or stale:
            def fn(st: ClusterState, idx: int) -> None:
                for k in remove | stale:
                    st.voters.pop(k, None)
                st.voters.update(add)
            self.apply(fn)
            self.log("INFO", f"nomad: raft configuration changed: added={sorted(add)} "
                             f"removed={sorted(remove | stale)}")
        for nid in down:
            def mark(st: ClusterState, idx: int, nid: str = nid) -> None:
                st.nodes[nid].update(Status="down", ModifyIndex=idx,
                                     StatusUpdatedAt=int(time.time()))
            self.apply(mark)
            self.log("INFO", f"nomad.heartbeat: node TTL expired, marked down: node_id={nid}")

    # -- writes
    def apply(self, fn: Callable[[ClusterState, int], Any]) -> Any:
        """Run a write on the leader's state, persist it and push it to the other servers."""
        with self.lock:
            if not self.is_leader:
                raise ApiError(500, "No cluster leader")
            idx = self.state.index + 1
            result = fn(self.state, idx)
            self.state.index = idx
            self._persist()
            snap = asdict(self.state)
            # Peers out of touch catch up by pulling when they are back (see raft_once).
            now = time.monotonic()
            targets = {p.rpc for p in self.peers.values() if now - p.last_ok < FAIL_AFTER}
        threads = [threading.Thread(target=self._push, args=(t, snap), daemon=True)
                   for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CALL_TIMEOUT + 0.5)
        return result

    def _push(self, rpc_addr: str, snap: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ApiError, ValueError, http.client.HTTPException):
            self.agent.rpc.call(rpc_addr, "/raft/install", snap)

    def node_update(self, node: dict[str, Any]) -> Response:
        if not self.is_leader:
            leader = self.leader_rpc()
            if not leader:
                return text_error(500, "No cluster leader")
            try:
                return ok(self.agent.rpc.call(leader, "/rpc/node", node))
            except ApiError as exc:
                return text_error(exc.status, exc.text)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                return text_error(500, f"rpc error: {exc}")
        nid = node["ID"]
        with self.lock:
            self.node_seen[nid] = time.monotonic()
            old = self.state.nodes.get(nid)
            same = old is not None and old["Status"] == "ready" and all(
                old.get(k) == v for k, v in node.items())
        if not same:
            def fn(st: ClusterState, idx: int) -> None:
                create = st.nodes[nid]["CreateIndex"] if nid in st.nodes else idx
                st.nodes[nid] = {**node, "Status": "ready", "CreateIndex": create,
                                 "ModifyIndex": idx, "StatusUpdatedAt": int(time.time())}
            self.apply(fn)
            self.log("INFO", f"nomad.client: node registered/updated: node_id={nid} "
                             f"name={node['Name']}")
        with self.lock:
            servers = sorted({v["rpc"] for v in self.state.voters.values()} | {self.rpc_addr})
        return ok({"Servers": servers, "Leader": self.rpc_addr, "HeartbeatTTL": NODE_TTL})


def _acl_dump(acl: Acl) -> dict[str, Any]:
    return {"management": acl.management, "levels": acl.levels,
            "namespaces": {k: sorted(v) for k, v in acl.namespaces.items()}}


def _acl_load(d: dict[str, Any]) -> Acl:
    return Acl(d["management"], {k: set(v) for k, v in d["namespaces"].items()}, d["levels"])


# ------------------------------------------------------------------------------ clients


class ClientRole:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        cfg = self.cfg = agent.cfg
        self.log = agent.log
        d = Path(cfg.data_dir) / "client"
        d.mkdir(parents=True, exist_ok=True)
        self.node_id = read_or_create_id(d / "client-id")
        self.secret_id = read_or_create_id(d / "secret-id")
        self.servers: list[str] = []
        for s in cfg.client_servers:
            if "provider=" in s:
                self.log("WARN", f"client: cloud auto-join is not supported by the stand-in, "
                                 f"skipping {s!r}")
                continue
            host, port = split_host_port(s, 4647)
            self.servers.append(f"{host}:{port}")
        if agent.server is not None:
            self.servers.insert(0, agent.server.rpc_addr)
        self.current = 0
        self.registered = False
        self.lock = threading.Lock()

    def node(self) -> dict[str, Any]:
        cfg = self.cfg
        ip, port = cfg.advertise["http"]
        drivers = {}
        docker = (cfg.plugins.get("docker") or {}).get("config") or {}
        raw_exec = (cfg.plugins.get("raw_exec") or {}).get("config") or {}
        privileged = str(_bool(docker.get("allow_privileged", False))).lower()
        drivers["docker"] = {"Detected": False, "Healthy": False,
                             "HealthDescription": "stand-in: no docker",
                             "Attributes": {"driver.docker.privileged.enabled": privileged}}
        if _bool(raw_exec.get("enabled", False)):
            drivers["raw_exec"] = {"Detected": True, "Healthy": True, "Attributes": {}}
        return {
            "ID": self.node_id, "Name": cfg.name, "Datacenter": cfg.datacenter,
            "NodePool": cfg.node_pool, "NodeClass": cfg.node_class, "Address": ip,
            "HTTPAddr": f"{ip}:{port}", "TLSEnabled": cfg.tls.http, "Drain": False,
            "SchedulingEligibility": "eligible", "Version": VERSION,
            "Attributes": {"nomad.version": VERSION, "nomad.revision": REVISION,
                           "unique.hostname": socket.gethostname(), "kernel.name": "linux",
                           "unique.network.ip-address": ip, "os.name": "linux"},
            "Meta": dict(cfg.meta), "Drivers": drivers,
        }

    def start(self) -> None:
        if not self.servers:
            self.log("WARN", "client: no servers configured (client.servers / server_join)")
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self.agent.stop.is_set():
            self.heartbeat()
            self.agent.stop.wait(HEARTBEAT)

    def ordered_servers(self) -> list[str]:
        with self.lock:
            s = list(self.servers)
            c = self.current % len(s) if s else 0
        return s[c:] + s[:c]

    def heartbeat(self) -> None:
        node = self.node()
        last_error = ""
        for i, server in enumerate(self.ordered_servers()):
            try:
                reply = self.agent.rpc.call(server, "/rpc/node", node)
            except (OSError, ApiError, ValueError, http.client.HTTPException) as exc:
                last_error = f"{server}: {exc}"
                continue
            with self.lock:
                self.current = (self.current + i) % max(len(self.servers), 1)
                for s in reply.get("Servers", []):
                    if s not in self.servers:
                        self.servers.append(s)
            if not self.registered:
                self.log("INFO", f"client: node registration complete: node_id={self.node_id}")
                self.registered = True
            return
        if self.registered or last_error:
            self.log("WARN" if self.registered else "DEBUG",
                     f"client: error heartbeating to servers: {last_error or 'no servers'}")
        with self.lock:
            self.current += 1
        self.registered = False

    def forward(self, payload: dict[str, Any]) -> Response:
        errors = []
        for server in self.ordered_servers():
            try:
                reply = self.agent.rpc.call(server, "/rpc/http", payload, timeout=5.0)
            except ApiError as exc:
                return text_error(exc.status, exc.text)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                errors.append(f"{server}: {exc}")
                continue
            return _response_from(reply)
        self.log("WARN", f"client: no server answered: {errors}")
        return text_error(500, "No known servers" if not errors else "No path to region")


def _response_from(reply: dict[str, Any]) -> Response:
    return Response(reply["status"], base64.b64decode(reply["body"]), reply["ctype"],
                    reply.get("headers") or {})


# ---------------------------------------------------------------------------- HTTP API


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    token: str
    body: bytes
    hops: int = 0

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            raise ApiError(400, "Request body could not be decoded as JSON") from None


Route = tuple[set[str], re.Pattern[str], str, str]  # methods, path, handler, where


def _r(methods: str, pattern: str, handler: str, where: str) -> Route:
    return set(methods.split("|")), re.compile(f"^{pattern}$"), handler, where


ROUTES: list[Route] = [
    _r("GET", "/v1/status/leader", "status_leader", "local"),
    _r("GET", "/v1/status/peers", "status_peers", "local"),
    _r("GET", "/v1/regions", "regions", "local"),
    _r("GET", "/v1/agent/members", "members", "server"),
    _r("GET", "/v1/agent/self", "agent_self", "agent"),
    _r("GET", "/v1/agent/health", "agent_health", "agent"),
    _r("GET", "/v1/agent/servers", "agent_servers", "agent"),
    _r("PUT|POST", "/v1/jobs/parse", "jobs_parse", "server"),
    _r("GET", "/v1/operator/raft/configuration", "raft_configuration", "leader"),
    _r("PUT|POST", "/v1/acl/bootstrap", "acl_bootstrap", "leader"),
    _r("GET", "/v1/acl/policies", "acl_policies", "leader"),
    _r("GET|PUT|POST|DELETE", "/v1/acl/policy/(?P<name>[^/]+)", "acl_policy", "leader"),
    _r("GET", "/v1/acl/tokens", "acl_tokens", "leader"),
    _r("PUT|POST", "/v1/acl/token", "acl_token_create", "leader"),
    _r("GET", "/v1/acl/token/self", "acl_token_self", "leader"),
    _r("GET|PUT|POST|DELETE", "/v1/acl/token/(?P<id>[^/]+)", "acl_token", "leader"),
    _r("GET", "/v1/nodes", "nodes", "leader"),
    _r("GET", "/v1/node/(?P<id>[^/]+)", "node", "leader"),
    _r("GET", "/v1/jobs", "jobs_list", "leader"),
    _r("PUT|POST", "/v1/jobs", "jobs_register", "leader"),
    _r("GET|DELETE", "/v1/job/(?P<id>[^/]+)", "job", "leader"),
    _r("PUT|POST", "/v1/job/(?P<id>[^/]+)", "jobs_register", "leader"),
]


class Api:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.cfg = agent.cfg

    # -- entry points
    def http_dispatch(self, req: Request) -> Response:
        token = req.headers.get("x-nomad-token", "")
        auth = req.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        return self.handle(Call(req.method, req.path, req.query, token, req.body))

    def from_forward(self, p: dict[str, Any]) -> Response:
        call = Call(p["method"], p["path"], p["query"], p["token"],
                    base64.b64decode(p["body"]), p["hops"])
        resp = self.handle(call)
        return ok({"status": resp.status, "ctype": resp.ctype, "headers": resp.headers,
                   "body": base64.b64encode(resp.body).decode()})

    def handle(self, call: Call) -> Response:
        if call.method == "HEAD":
            call.method = "GET"
        path_known = False
        for methods, pattern, name, where in ROUTES:
            m = pattern.match(call.path)
            if not m:
                continue
            path_known = True
            if call.method not in methods:
                continue
            srv = self.agent.server
            if call.path.startswith("/v1/acl/") and srv is not None and not self.cfg.acl_enabled:
                return text_error(400, "ACL support disabled")
            if where in ("server", "leader") and srv is None:
                return self._forward_to(None, call)
            if where == "leader" and srv is not None and not srv.is_leader:
                leader = srv.leader_rpc()
                if not leader or call.hops > 2:
                    return text_error(500, "No cluster leader")
                return self._forward_to(leader, call)
            try:
                resp = getattr(self, name)(call, m)
            except ApiError as exc:
                return text_error(exc.status, exc.text)
            resp.headers.setdefault("X-Nomad-KnownLeader",
                                    "true" if srv and srv.leader_id else "false")
            if srv is not None:
                resp.headers.setdefault("X-Nomad-Index", str(max(srv.state.index, 1)))
            resp.headers.setdefault("X-Nomad-LastContact", "0")
            return resp
        return text_error(405, "Invalid method") if path_known else text_error(404, "Invalid URL")

    def _forward_to(self, rpc_addr: str | None, call: Call) -> Response:
        payload = {"method": call.method, "path": call.path, "query": call.query,
                   "token": call.token, "body": base64.b64encode(call.body).decode(),
                   "hops": call.hops + 1}
        if rpc_addr is None:
            assert self.agent.client is not None
            return self.agent.client.forward(payload)
        try:
            return _response_from(self.agent.rpc.call(rpc_addr, "/rpc/http", payload, 5.0))
        except ApiError as exc:
            return text_error(exc.status, exc.text)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return text_error(500, f"rpc error: failed to forward to leader {rpc_addr}: {exc}")

    # -- ACL
    def resolve(self, token: str) -> Acl:
        if not self.cfg.acl_enabled:
            return Acl(management=True)
        srv = self.agent.server
        if srv is None:
            assert self.agent.client is not None
            for server in self.agent.client.ordered_servers():
                try:
                    return _acl_load(self.agent.rpc.call(server, "/rpc/resolve", {"token": token}))
                except ApiError as exc:
                    raise ApiError(exc.status, exc.text) from None
                except (OSError, ValueError, http.client.HTTPException):
                    continue
            raise ApiError(500, "No known servers")
        with srv.lock:
            st = srv.state
            if not token:
                anon = st.policies.get("anonymous")
                return acl_from_rules([anon["Rules"]] if anon else [])
            tok = st.token_by_secret(token)
            if tok is None:
                raise ApiError(403, "ACL token not found")
            if tok["Type"] == "management":
                return Acl(management=True)
            rules = [st.policies[p]["Rules"] for p in tok.get("Policies") or [] if p in st.policies]
        return acl_from_rules(rules)

    def need(self, call: Call, scope: str, level: str = "read") -> Acl:
        acl = self.resolve(call.token)
        if scope == "management" and not acl.management:
            raise ApiError(403, "Permission denied")
        if scope != "management" and not acl.allows(scope, level):
            raise ApiError(403, "Permission denied")
        return acl

    def need_ns(self, call: Call, ns: str, cap: str) -> Acl:
        acl = self.resolve(call.token)
        if not acl.allows_ns(ns, cap):
            raise ApiError(403, "Permission denied")
        return acl

    # -- status / agent
    def _srv(self) -> ServerRole:
        assert self.agent.server is not None
        return self.agent.server

    def status_leader(self, call: Call, m: re.Match[str]) -> Response:
        self._check_region(call)
        if self.agent.server is None:
            return self._forward_to(None, call)
        return ok(self._srv().leader_rpc())

    def _check_region(self, call: Call) -> None:
        region = call.query.get("region")
        if region and region != self.cfg.region:
            raise ApiError(500, "No path to region")

    def status_peers(self, call: Call, m: re.Match[str]) -> Response:
        self._check_region(call)
        if self.agent.server is None:
            return self._forward_to(None, call)
        srv = self._srv()
        with srv.lock:
            return ok(sorted(v["rpc"] for v in srv.state.voters.values()))

    def regions(self, call: Call, m: re.Match[str]) -> Response:
        return ok([self.cfg.region])

    def members(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "node")
        srv = self._srv()
        now = time.monotonic()
        me = srv.self_member()
        with srv.lock:
            others = [x.to_api(now) for x in srv.members.values()]
        mine = Member(me["name"], me["addr"], me["port"], me["tags"], me["boot"], now).to_api(now)
        members = sorted([mine, *others], key=lambda x: x["Name"])
        return ok({"ServerName": self.cfg.name, "ServerRegion": self.cfg.region,
                   "ServerDC": self.cfg.datacenter, "Members": members})

    def agent_self(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "agent")
        cfg = self.cfg
        srv = self.agent.server
        adv = {k: f"{h}:{p}" for k, (h, p) in cfg.advertise.items()}
        config = {
            "Region": cfg.region, "Datacenter": cfg.datacenter, "NodeName": cfg.name,
            "DataDir": cfg.data_dir, "LogLevel": cfg.log_level, "BindAddr": cfg.bind_addr,
            "Ports": {"HTTP": cfg.ports["http"], "RPC": cfg.ports["rpc"],
                      "Serf": cfg.ports["serf"]},
            "Addresses": {k.upper() if k != "serf" else "Serf": v for k, v in cfg.bind.items()},
            "AdvertiseAddrs": {"HTTP": adv["http"], "RPC": adv["rpc"], "Serf": adv["serf"]},
            "ACL": {"Enabled": cfg.acl_enabled},
            "Server": {"Enabled": cfg.server_enabled, "BootstrapExpect": cfg.bootstrap_expect,
                       "EncryptKey": "<redacted>" if cfg.encrypt else "",
                       "ServerJoin": {"RetryJoin": cfg.retry_join}},
            "Client": {"Enabled": cfg.client_enabled, "Servers": cfg.client_servers,
                       "NodePool": cfg.node_pool, "NodeClass": cfg.node_class,
                       "Meta": cfg.meta},
            "TLSConfig": {"EnableHTTP": cfg.tls.http, "EnableRPC": cfg.tls.rpc,
                          "VerifyServerHostname": cfg.tls.verify_server_hostname,
                          "VerifyHTTPSClient": cfg.tls.verify_https_client,
                          "CAFile": cfg.tls.ca_file, "CertFile": cfg.tls.cert_file,
                          "KeyFile": cfg.tls.key_file},
            "LeaveOnTerm": cfg.leave_on_terminate, "LeaveOnInt": cfg.leave_on_interrupt,
            "Version": {"Version": VERSION, "VersionPrerelease": "", "VersionMetadata": "",
                        "Revision": REVISION},
            "Files": cfg.files,
        }
        stats: dict[str, Any] = {"runtime": {"arch": "amd64", "os": "linux",
                                             "version": "standin (python)"}}
        member: dict[str, Any] = {}
        if srv is not None:
            now = time.monotonic()
            me = srv.self_member()
            member = Member(me["name"], me["addr"], me["port"], me["tags"], me["boot"],
                            now).to_api(now)
            stats["nomad"] = {"server": "true", "leader": str(srv.is_leader).lower(),
                              "leader_addr": srv.leader_rpc(), "bootstrap": "false",
                              "known_regions": "1"}
            stats["raft"] = {"state": "Leader" if srv.is_leader else "Follower",
                             "last_log_index": str(srv.state.index),
                             "term": str(srv.state.term), "num_peers": str(
                                 max(len(srv.state.voters) - 1, 0))}
        if self.agent.client is not None:
            stats["client"] = {"node_id": self.agent.client.node_id,
                               "known_servers": ",".join(self.agent.client.servers),
                               "heartbeat_ttl": str(NODE_TTL)}
        return ok({"config": config, "member": member, "stats": stats})

    def agent_health(self, call: Call, m: re.Match[str]) -> Response:
        out: dict[str, Any] = {}
        if self.agent.server is not None:
            out["server"] = {"ok": True, "message": "ok"}
        if self.agent.client is not None:
            reg = self.agent.client.registered
            out["client"] = {"ok": reg, "message": "ok" if reg else "no known servers"}
        return ok(out)

    def agent_servers(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "agent")
        if self.agent.client is not None:
            return ok(list(self.agent.client.servers))
        return ok([self._srv().rpc_addr])

    def raft_configuration(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        srv = self._srv()
        with srv.lock:
            servers = [{"ID": k, "Node": v["name"], "Address": v["rpc"],
                        "Leader": k == srv.leader_id, "Voter": True, "RaftProtocol": "3"}
                       for k, v in sorted(srv.state.voters.items(), key=lambda kv: kv[1]["rpc"])]
            return ok({"Index": srv.state.index, "Servers": servers})

    # -- ACL endpoints (leader)
    def acl_bootstrap(self, call: Call, m: re.Match[str]) -> Response:
        srv = self._srv()
        body = call.json() or {}
        secret = str(body.get("BootstrapSecret") or "")
        if secret:
            try:
                uuid.UUID(secret)
            except ValueError:
                raise ApiError(400, "invalid acl token") from None

        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            if st.acl_bootstrap_index:
                reset = self._reset_index(srv)
                if reset == 0:
                    raise ApiError(400, "ACL bootstrap already done "
                                        f"(reset index: {st.acl_bootstrap_index})")
                if reset != st.acl_bootstrap_index:
                    raise ApiError(400, f"Invalid bootstrap reset index (specified {reset}, "
                                        f"reset index: {st.acl_bootstrap_index})")
            token = self._new_token(idx, "Bootstrap Token", "management", None, secret)
            st.tokens[token["AccessorID"]] = token
            st.acl_bootstrap_index = idx
            return token

        token = srv.apply(fn)
        srv.log("INFO", f"nomad.acl: ACL bootstrap completed: accessor={token['AccessorID']}")
        return ok(token)

    @staticmethod
    def _reset_index(srv: ServerRole) -> int:
        path = srv.dir / "acl-bootstrap-reset"
        try:
            return int(path.read_text().strip())
        except FileNotFoundError:
            return 0
        except ValueError as exc:
            srv.log("ERROR", f"nomad.acl: failed to parse bootstrap reset index: {exc}")
            return 0

    @staticmethod
    def _new_token(idx: int, name: str, typ: str, policies: list[str] | None,
                   secret: str = "") -> dict[str, Any]:
        secret = secret or str(uuid.uuid4())
        return {
            "AccessorID": str(uuid.uuid4()), "SecretID": secret, "Name": name, "Type": typ,
            "Policies": policies, "Roles": None, "Global": True,
            "Hash": base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode(),
            "CreateTime": now_rfc3339(), "ExpirationTime": None, "ExpirationTTL": 0,
            "CreateIndex": idx, "ModifyIndex": idx,
        }

    def acl_policies(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        st = self._srv().state
        return ok([{"Name": p["Name"], "Description": p["Description"],
                    "CreateIndex": p["CreateIndex"], "ModifyIndex": p["ModifyIndex"]}
                   for p in sorted(st.policies.values(), key=lambda p: p["Name"])])

    def acl_policy(self, call: Call, m: re.Match[str]) -> Response:
        srv = self._srv()
        name = m["name"]
        if call.method == "GET":
            acl_token = srv.state.token_by_secret(call.token) if call.token else None
            own = acl_token is not None and name in (acl_token.get("Policies") or [])
            if not own:
                self.need(call, "management")
            pol = srv.state.policies.get(name)
            if pol is None:
                raise ApiError(404, "ACL policy not found")
            return ok(pol)
        self.need(call, "management")
        if call.method == "DELETE":
            srv.apply(lambda st, idx: st.policies.pop(name, None))
            return ok(None)
        body = call.json() or {}
        rules = str(body.get("Rules") or "")
        try:
            parse_rules(rules)
        except Exception as exc:
            raise ApiError(400, f"failed to parse rules: {exc}") from None

        def fn(st: ClusterState, idx: int) -> None:
            old = st.policies.get(name)
            st.policies[name] = {"Name": name, "Description": str(body.get("Description") or ""),
                                 "Rules": rules, "JobACL": body.get("JobACL"),
                                 "CreateIndex": old["CreateIndex"] if old else idx,
                                 "ModifyIndex": idx}
        srv.apply(fn)
        return ok(None)

    def acl_tokens(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        return ok([{k: v for k, v in t.items() if k != "SecretID"}
                   for t in self._srv().state.tokens.values()])

    def acl_token_create(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        body = call.json() or {}
        typ = str(body.get("Type") or "")
        policies = list(body.get("Policies") or [])
        if typ not in ("client", "management"):
            raise ApiError(400, "token type must be client or management")
        if typ == "client" and not policies and not body.get("Roles"):
            raise ApiError(400, "client token missing policies or roles")
        if typ == "management" and policies:
            raise ApiError(400, "management token cannot be associated with policies")
        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            token = self._new_token(idx, str(body.get("Name") or ""), typ, policies or None)
            st.tokens[token["AccessorID"]] = token
            return token

        return ok(self._srv().apply(fn))

    def acl_token_self(self, call: Call, m: re.Match[str]) -> Response:
        st = self._srv().state
        tok = st.token_by_secret(call.token) if call.token else None
        if tok is None:
            raise ApiError(403, "ACL token not found" if call.token else "Permission denied")
        return ok(tok)

    def acl_token(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "management")
        srv = self._srv()
        acc = m["id"]
        if acc not in srv.state.tokens:
            raise ApiError(404, "ACL token not found")
        if call.method == "DELETE":
            srv.apply(lambda st, idx: st.tokens.pop(acc, None))
            return ok(None)
        if call.method == "GET":
            return ok(srv.state.tokens[acc])
        body = call.json() or {}

        def fn(st: ClusterState, idx: int) -> dict[str, Any]:
            t = st.tokens[acc]
            for k in ("Name", "Policies"):
                if k in body:
                    t[k] = body[k]
            t["ModifyIndex"] = idx
            return dict(t)
        return ok(srv.apply(fn))

    # -- nodes
    def nodes(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "node")
        prefix = call.query.get("prefix", "")
        keys = ("ID", "Name", "Datacenter", "NodePool", "NodeClass", "Address", "Status",
                "StatusDescription", "Drain", "SchedulingEligibility", "Version", "Drivers",
                "CreateIndex", "ModifyIndex")
        with self._srv().lock:
            nodes = list(self._srv().state.nodes.values())
        out = [{k: n.get(k, "") for k in keys} for n in nodes if n["ID"].startswith(prefix)]
        return ok(sorted(out, key=lambda n: n["ID"]))

    def node(self, call: Call, m: re.Match[str]) -> Response:
        self.need(call, "node")
        with self._srv().lock:
            nodes = self._srv().state.nodes
            match = [n for k, n in nodes.items() if k.startswith(m["id"])]
        if len(match) != 1:
            raise ApiError(404, "node not found")
        return ok(match[0])

    # -- jobs
    def _job_status(self, job: dict[str, Any]) -> str:
        if job.get("Stop"):
            return "dead"
        dcs = job.get("Datacenters") or ["*"]
        pool = job.get("NodePool") or "default"
        with self._srv().lock:
            nodes = list(self._srv().state.nodes.values())
        for n in nodes:
            if n["Status"] == "ready" and any(fnmatch.fnmatchcase(n["Datacenter"], d)
                                              for d in dcs) and pool in ("all", n["NodePool"]):
                return "running"
        return "pending"

    def jobs_register(self, call: Call, m: re.Match[str]) -> Response:
        body = call.json() or {}
        job = body.get("Job") if isinstance(body, dict) else None
        if not isinstance(job, dict):
            raise ApiError(400, "Job must be specified")
        if not job.get("ID"):
            raise ApiError(400, "Job ID hasn't been provided")
        if "id" in m.groupdict() and m["id"] != job["ID"]:
            raise ApiError(400, "Job ID does not match name")
        ns = str(job.get("Namespace") or call.query.get("namespace") or "default")
        self.need_ns(call, ns, "submit-job")
        key = f"{ns}/{job['ID']}"
        eval_id = str(uuid.uuid4())

        def fn(st: ClusterState, idx: int) -> int:
            old = st.jobs.get(key)
            stored = {"Name": job["ID"], "Type": "service", "Priority": 50,
                      "Datacenters": ["*"], "NodePool": "default", "Region": self.cfg.region,
                      **job, "Namespace": ns, "Stop": bool(job.get("Stop", False)),
                      "Version": (old["Version"] + 1) if old else 0,
                      "CreateIndex": old["CreateIndex"] if old else idx,
                      "ModifyIndex": idx, "JobModifyIndex": idx,
                      "SubmitTime": time.time_ns()}
            st.jobs[key] = stored
            return idx
        idx = self._srv().apply(fn)
        return ok({"EvalID": eval_id, "EvalCreateIndex": idx, "JobModifyIndex": idx,
                   "Warnings": "", "Index": idx, "LastContact": 0, "KnownLeader": True})

    def jobs_list(self, call: Call, m: re.Match[str]) -> Response:
        ns = call.query.get("namespace", "default")
        self.need_ns(call, ns if ns != "*" else "default", "list-jobs")
        prefix = call.query.get("prefix", "")
        with self._srv().lock:
            jobs = [j for k, j in self._srv().state.jobs.items()
                    if (ns == "*" or k.startswith(f"{ns}/")) and j["ID"].startswith(prefix)]
        out = []
        for j in sorted(jobs, key=lambda j: j["ID"]):
            out.append({
                "ID": j["ID"], "ParentID": j.get("ParentID", ""), "Name": j["Name"],
                "Namespace": j["Namespace"], "Datacenters": j["Datacenters"],
                "NodePool": j["NodePool"], "Multiregion": None, "Type": j["Type"],
                "Priority": j["Priority"], "Periodic": False, "ParameterizedJob": False,
                "Stop": j["Stop"], "Status": self._job_status(j), "StatusDescription": "",
                "JobSummary": {"JobID": j["ID"], "Namespace": j["Namespace"], "Summary": {},
                               "CreateIndex": j["CreateIndex"], "ModifyIndex": j["ModifyIndex"]},
                "CreateIndex": j["CreateIndex"], "ModifyIndex": j["ModifyIndex"],
                "JobModifyIndex": j["JobModifyIndex"], "SubmitTime": j["SubmitTime"],
            })
        return ok(out)

    def job(self, call: Call, m: re.Match[str]) -> Response:
        ns = call.query.get("namespace", "default")
        key = f"{ns}/{m['id']}"
        srv = self._srv()
        if call.method == "DELETE":
            self.need_ns(call, ns, "submit-job")
            if key not in srv.state.jobs:
                raise ApiError(404, "job not found")
            purge = call.query.get("purge") in ("true", "1")

            def fn(st: ClusterState, idx: int) -> int:
                if purge:
                    st.jobs.pop(key, None)
                else:
                    st.jobs[key].update(Stop=True, ModifyIndex=idx, JobModifyIndex=idx)
                return idx
            idx = srv.apply(fn)
            return ok({"EvalID": str(uuid.uuid4()), "EvalCreateIndex": idx,
                       "JobModifyIndex": idx, "Index": idx})
        self.need_ns(call, ns, "read-job")
        with srv.lock:
            job = srv.state.jobs.get(key)
        if job is None:
            raise ApiError(404, "job not found")
        return ok({**job, "Status": self._job_status(job)})

    def jobs_parse(self, call: Call, m: re.Match[str]) -> Response:
        body = call.json() or {}
        ns = call.query.get("namespace", "default")
        acl = self.resolve(call.token)
        if not (acl.allows_ns(ns, "parse-job") or acl.allows_ns(ns, "submit-job")):
            raise ApiError(403, "Permission denied")
        try:
            job = hcl_job_to_api(str(body.get("JobHCL") or ""),
                                 bool(body.get("Canonicalize", False)), self.cfg.region)
        except ApiError:
            raise
        except Exception as exc:
            raise ApiError(400, f"error parsing job: {exc}") from None
        return ok(job)


# ------------------------------------------------------------------------- job parsing

_LIST_BLOCKS = {"group": "TaskGroups", "task": "Tasks", "constraint": "Constraints",
                "affinity": "Affinities", "spread": "Spreads", "service": "Services",
                "check": "Checks", "template": "Templates", "artifact": "Artifacts",
                "volume_mount": "VolumeMounts"}
_RAW_BLOCKS = {"config", "env", "meta", "options"}
_SPECIAL = {"id": "ID", "node_pool": "NodePool", "restart": "RestartPolicy",
            "reschedule": "ReschedulePolicy", "ephemeral_disk": "EphemeralDisk",
            "meta": "Meta", "env": "Env", "config": "Config"}
_CTX_NAMES = {
    "constraint": {"attribute": "LTarget", "value": "RTarget", "operator": "Operand"},
    "affinity": {"attribute": "LTarget", "value": "RTarget", "operator": "Operand"},
    "service": {"port": "PortLabel"}, "check": {"port": "PortLabel"},
    "resources": {"cpu": "CPU", "memory": "MemoryMB", "memory_max": "MemoryMaxMB"},
    "ephemeral_disk": {"size": "SizeMB"},
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}


def _camel(key: str) -> str:
    acronyms = {"id": "ID", "cpu": "CPU", "ttl": "TTL", "dns": "DNS", "url": "URL",
                "mb": "MB", "tls": "TLS", "ip": "IP", "http": "HTTP", "grpc": "GRPC"}
    return "".join(acronyms.get(p, p.capitalize()) for p in key.split("_"))


def _blocks(value: list[dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    out: list[tuple[str | None, dict[str, Any]]] = []
    for item in value:
        if item.get("__is_block__"):
            out.append((None, item))
        else:
            out.extend(item.items())
    return out


def _convert(body: dict[str, Any], ctx: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = _CTX_NAMES.get(ctx, {})
    for key, value in body.items():
        if key == "__is_block__":
            continue
        is_block = isinstance(value, list) and value and all(_is_block(v) for v in value)
        if is_block and key in _RAW_BLOCKS:
            out[_SPECIAL.get(key, _camel(key))] = normalize(value)
        elif is_block and key == "network":
            out["Networks"] = [_network(b) for _, b in _blocks(value)]
        elif is_block and key in _LIST_BLOCKS:
            out[_LIST_BLOCKS[key]] = [
                {**({"Name": label} if label else {}), **_convert(b, key)}
                for label, b in _blocks(value)
            ]
        elif is_block:
            out[_SPECIAL.get(key, _camel(key))] = _convert(_blocks(value)[-1][1], key)
        else:
            name = names.get(key) or _SPECIAL.get(key) or _camel(key)
            if isinstance(value, str) and _DURATION.match(value) and ctx != "config":
                num, unit = _DURATION.match(value).groups()  # type: ignore[union-attr]
                value = int(float(num) * _UNITS[unit])
            out[name] = value
    return out


def _network(body: dict[str, Any]) -> dict[str, Any]:
    net: dict[str, Any] = {"Mode": body.get("mode", "host"), "ReservedPorts": None,
                           "DynamicPorts": None}
    for label, port in _blocks(body.get("port") or []):
        entry = {"Label": label, "Value": int(port.get("static", 0)),
                 "To": int(port.get("to", 0)), "HostNetwork": port.get("host_network", "default")}
        kind = "ReservedPorts" if entry["Value"] else "DynamicPorts"
        net[kind] = [*(net[kind] or []), entry]
    return net


def hcl_job_to_api(text: str, canonicalize: bool, region: str) -> dict[str, Any]:
    parsed = parse_hcl(text)
    jobs = _blocks(parsed.get("job") or [])
    if len(jobs) != 1:
        raise ApiError(400, "error parsing job: exactly one job block is required")
    label, body = jobs[0]
    job = {"ID": label, "Name": label, **_convert(body, "job")}
    if canonicalize:
        for k, v in (("Namespace", "default"), ("Region", region), ("Type", "service"),
                     ("Priority", 50), ("Datacenters", ["*"]), ("NodePool", "default"),
                     ("AllAtOnce", False), ("Stop", False)):
            job.setdefault(k, v)
        for g in job.setdefault("TaskGroups", []):
            g.setdefault("Count", 1)
            for t in g.setdefault("Tasks", []):
                t.setdefault("Resources", {})
                t["Resources"].setdefault("CPU", 100)
                t["Resources"].setdefault("MemoryMB", 300)
    return job


# ---------------------------------------------------------------------------- the agent


class Agent:
    def __init__(self, cfg: AgentConfig, log: Log) -> None:
        self.cfg, self.log = cfg, log
        self.stop = threading.Event()
        self.boot = str(uuid.uuid4())
        self.listeners: list[Listener] = []
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self.rpc = Rpc(cfg)
        self.server: ServerRole | None = ServerRole(self) if cfg.server_enabled else None
        self.client: ClientRole | None = ClientRole(self) if cfg.client_enabled else None
        self.api = Api(self)

    def _listen(self, proto: str, dispatch: Callable[[Request], Response],
                ctx: ssl.SSLContext | None) -> None:
        addr = (self.cfg.bind[proto], self.cfg.ports[proto])
        try:
            lst = Listener(addr, dispatch, ctx, self.log, proto)
        except OSError as exc:
            raise AgentError(f"Error starting agent: failed to listen on {proto} "
                             f"{addr[0]}:{addr[1]}: {exc.strerror or exc}") from None
        self.listeners.append(lst)

    def start(self) -> None:
        t = self.cfg.tls
        http_ctx = server_ssl_context(t, t.verify_https_client) if t.http else None
        self._listen("http", self.api.http_dispatch, http_ctx)
        if self.server is not None:
            rpc_ctx = server_ssl_context(t, True) if t.rpc else None
            self._listen("rpc", self.server.rpc_dispatch, rpc_ctx)
            self._listen("serf", self.server.serf_dispatch, None)
        for lst in self.listeners:
            lst.start()
        if self.server is not None:
            self.server.start()
        if self.client is not None:
            self.client.start()

    def shutdown(self, leave: bool) -> None:
        if leave and self.server is not None:
            self.server.leave()
        self.stop.set()
        for lst in self.listeners:
            lst.shutdown()
            lst.server_close()


def _banner(cfg: AgentConfig, log: Log) -> None:
    for f in cfg.files:
        log.ui(f"==> Loaded configuration from {f}")
    log.ui("==> Starting Nomad agent (stand-in for tests, not HashiCorp Nomad)...")
    rows = {
        "Advertise Addrs": "HTTP: {}; RPC: {}; Serf: {}".format(
            *(f"{h}:{p}" for h, p in (cfg.advertise[k] for k in ("http", "rpc", "serf")))),
        "Bind Addrs": "HTTP: {}; RPC: {}; Serf: {}".format(
            *(f"{cfg.bind[k]}:{cfg.ports[k]}" for k in ("http", "rpc", "serf"))),
        "Client": str(cfg.client_enabled).lower(), "Log Level": cfg.log_level,
        "Node Id": "", "Region": f"{cfg.region} (DC: {cfg.datacenter})",
        "Server": str(cfg.server_enabled).lower(), "Version": VERSION,
    }
    log.ui("==> Nomad agent configuration:\n")
    for k, v in rows.items():
        log.ui(f"{k:>20}: {v}")
    log.ui("\n==> Nomad agent started! Log data will stream in below:\n")


def agent_main(args: list[str]) -> int:
    log = Log()
    paths: list[str] = []
    overrides: dict[str, Any] = {}
    flags = {"-data-dir": "data_dir", "-bind": "bind_addr", "-node": "name",
             "-region": "region", "-dc": "datacenter", "-log-level": "log_level"}
    it = iter(args)
    for arg in it:
        name, eq, value = arg.partition("=")
        name = "-" + name.lstrip("-")
        if name in ("-config", *flags) and not eq:
            value = next(it, "")
        if name == "-config":
            paths.append(value)
        elif name in flags:
            overrides[flags[name]] = value
        elif name in ("-server", "-client"):
            overrides.setdefault(name[1:], {})["enabled"] = True
        else:
            log.ui(f"==> Error parsing flags: flag provided but not defined: {arg}")
            return 1
    try:
        raw, files = load_config_files(paths)
        cfg = build_config(raw, files, overrides)
        log = Log(cfg.log_level)
        validate(cfg)
    except AgentError as exc:
        log.ui(f"==> Error: {exc}" if not str(exc).startswith("Error") else f"==> {exc}")
        return 1
    _banner(cfg, log)
    for key in cfg.ignored:
        log("WARN", f"agent: stand-in ignores config block or key: {key}")
    try:
        agent = Agent(cfg, log)
        agent.start()
    except (AgentError, OSError, ssl.SSLError) as exc:
        text = str(exc)
        log.ui(f"==> {text}" if text.startswith("Error") else f"==> Error starting agent: {text}")
        return 1
    caught: list[int] = []
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            log.ui("==> Caught signal: hangup (the stand-in does not reload)")
            return
        caught.append(signum)
        done.set()

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    while not done.wait(0.5):
        pass
    sig = caught[0]
    log.ui(f"==> Caught signal: {'terminated' if sig == signal.SIGTERM else 'interrupt'}")
    graceful = cfg.leave_on_terminate if sig == signal.SIGTERM else cfg.leave_on_interrupt
    if graceful:
        log.ui("==> Gracefully shutting down agent...")
    agent.shutdown(leave=graceful)
    log("INFO", "agent: shutdown complete")
    return 0 if graceful else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else ""
    if cmd in ("version", "-version", "--version", "-v"):
        sys.stdout.write(f"Nomad v{VERSION}\nBuildDate 2025-01-01T00:00:00Z\n"
                         f"Revision {REVISION} (stand-in for tests, not HashiCorp Nomad)\n")
        return 0
    if cmd == "agent":
        return agent_main(args[1:])
    sys.stderr.write("Usage: nomad [-version] <command> [args]\n\n"
                     "Stand-in for tests. Commands: agent, version\n")
    return 1 if cmd not in ("-h", "--help", "help") else 0


if __name__ == "__main__":
    sys.exit(main())
