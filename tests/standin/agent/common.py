"""Constants, logging, errors and small helpers shared by the stand-in's modules."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

VERSION = "1.11.0"
REVISION = "standin"
HEARTBEAT = 0.5  # seconds between gossip / raft / client heartbeats
FAIL_AFTER = 3.0  # a raft peer silent this long is unreachable (serf's failed: serf.py)
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


def as_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def as_int(v: Any, what: str) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise AgentError(f"Error loading configuration: {what}: invalid integer {v!r}") from None


def str_list(v: Any) -> list[str]:
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


FAULT_DIR_ENV = "STANDIN_FAULT_DIR"  # tests only: where fault points are armed
# make_binary(fault_dir=...) bakes the directory in, because nomadctl starts local agents
# with an allow-listed environment (issue 28 point 6) that rightly drops $STANDIN_FAULT_DIR.
FAULT_DIR = ""


def _fault_dir() -> str:
    return os.environ.get(FAULT_DIR_ENV) or FAULT_DIR


HOLD_LIMIT = 60.0  # seconds a held call waits for release at most (a test that died)


def fault_armed(point: str) -> bool:
    """Tests only: is `$STANDIN_FAULT_DIR/<point>.arm` there? Taken away when seen, so one
    agent (the first to look) meets the fault."""
    base = _fault_dir()
    if not base:
        return False
    try:
        (Path(base) / f"{point}.arm").unlink()
    except OSError:
        return False
    return True


def hold_after_apply(point: str) -> None:
    """A fault point for tests: when `$STANDIN_FAULT_DIR/<point>.hold` exists, the change
    has just been applied but not answered; say so (`<point>.reached`, the .hold file taken
    away, so it fires once) and wait for `<point>.release`. A test kills its client at that
    moment, the way a SIGKILL lands between a request being applied and its answer."""
    base = _fault_dir()
    if not base:
        return
    hold = Path(base) / f"{point}.hold"
    try:
        hold.unlink()
    except OSError:
        return  # not armed
    (Path(base) / f"{point}.reached").write_text(str(os.getpid()))
    release, deadline = Path(base) / f"{point}.release", time.monotonic() + HOLD_LIMIT
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


GO_BOOLS = {  # strconv.ParseBool
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def go_bool(query: dict[str, str], field: str) -> bool | None:
    """A query flag as command/agent/http.go parseBool reads it: absent or empty is None,
    else strconv.ParseBool (`True` counts, `maybe` is an error with Nomad's words)."""
    raw = query.get(field, "")
    if raw == "":
        return None
    if raw not in GO_BOOLS:
        raise ValueError(
            f'Failed to parse value of "{field}" ({raw}) as a bool: '
            f'strconv.ParseBool: parsing "{raw}": invalid syntax'
        )
    return GO_BOOLS[raw]
