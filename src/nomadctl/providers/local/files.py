"""An agent's directory in the workspace (`local/<node>/`: config, tls, data, log, pid) and
its files, written 0600 and only when they change (an unchanged file restarts nothing)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from nomadctl import trust
from nomadctl.errors import UsageError
from nomadctl.hosts import Host
from nomadctl.pki import issue, store
from nomadctl.providers.local import proc
from nomadctl.workspace import SECRET_MODE, Workspace, atomic_write


def node_dir(ws: Workspace, node_name: str) -> proc.NodeDir:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", node_name):
        raise UsageError(f"{node_name!r} is not a node name")
    return proc.NodeDir(ws.path / "local" / node_name)


def log_path(ws: Workspace, node_name: str) -> Path:
    """Where the node's agent writes its log (`nomadctl logs NODE`); it may not exist yet."""
    return node_dir(ws, node_name).log


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` (0600) unless the file already holds exactly that; True if written.
    No fsync: every `up` compares these copies with the workspace and writes them again."""
    with contextlib.suppress(OSError):
        if (
            trust.read_file(path, path.parent) == data
            and path.stat().st_mode & 0o777 == SECRET_MODE
        ):
            return False
    atomic_write(path, data, SECRET_MODE, durable=False)
    return True


def node_tls(
    ws: Workspace, ca: issue.KeyPair, host: Host, region: str, keep_previous: bool = False
) -> dict[str, bytes]:
    pair = store.ensure_node_cert(
        ws,
        ca,
        name=host.name,
        kind=host.role,
        region=region,
        addresses=[host.private_ip],
        keep_previous=keep_previous,  # a CA rotation's pass 1 (nomadctl.plan.ca_rotation)
    )
    return {
        "ca.pem": store.trust_pem(ws),  # the CA, or old + new during a CA rotation
        "node.pem": issue.cert_pem(pair.cert),
        "node-key.pem": issue.key_pem(pair.key),
    }


_BIND = re.compile(r'^bind_addr\s*=\s*"([0-9.]+)"', re.MULTILINE)
_PORTS = re.compile(r"^ports\s*\{([^}]*)\}", re.MULTILINE)
_PORT = re.compile(r"^\s*(http|rpc|serf)\s*=\s*(\d+)\s*$", re.MULTILINE)


def node_names(ws: Workspace) -> list[str]:
    """The agents that have a directory under `<workspace>/local/`, whatever state.json says."""
    base = ws.path / "local"
    try:
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def agents_addresses(ws: Workspace) -> dict[str, tuple[str, int, int, int]]:
    """Each agent's (address, http, rpc, serf) as its own config file says: what the agents
    use when state.json is damaged or gone, so that `up` keeps them where they are (moving
    a server to a new address would strand its raft peers)."""
    found = {}
    for name in node_names(ws):
        try:
            text = node_dir(ws, name).config_file.read_text(errors="replace")
        except (OSError, UsageError):
            continue
        bind, ports = _BIND.search(text), _PORTS.search(text)
        if bind is None or ports is None:
            continue
        nums = {k: int(v) for k, v in _PORT.findall(ports.group(1))}
        if set(nums) == {"http", "rpc", "serf"}:
            found[name] = (bind.group(1), nums["http"], nums["rpc"], nums["serf"])
    return found


def server_data_dirs(ws: Workspace) -> list[Path]:
    """`<node>/data/server` of every local agent that has run as a server."""
    dirs = []
    for name in node_names(ws):
        with contextlib.suppress(UsageError):
            server = node_dir(ws, name).data / "server"
            if server.is_dir():
                dirs.append(server)
    return dirs
