"""A local cluster's state.json rebuilt from its agents' own files when it is gone (issue 29
point 7): every command that reads the cluster (`status`, `env`, `acl-bootstrap`, `logs`,
`snapshot`, `recover`, `ui`) finds running local agents without it, as `up` and `down` do.

What is rebuilt is what the agents say of themselves, in `local/<node>/`: name, region,
datacenter, address and ports from `config/nomad.hcl` (what nomadctl wrote and the agent
reads), the role from its `server { enabled = true }`, `bootstrap_expect` from
`config/join.hcl`, the binary from the running agent's command line. Nothing is invented:
an agent directory without a readable config is left out. A damaged state.json is never
replaced (its owner may mend it); moved aside, it is rebuilt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nomadctl import trust
from nomadctl.errors import UsageError, WorkspaceError
from nomadctl.hosts import Host
from nomadctl.providers.local import files, proc
from nomadctl.workspace import Workspace

_STRING = r'^{key}\s*=\s*"([^"\n]*)"'
_SERVER = re.compile(r"^server\s*\{[^}]*^\s*enabled\s*=\s*true", re.MULTILINE)
_EXPECT = re.compile(r"^\s*bootstrap_expect\s*=\s*(\d+)", re.MULTILINE)
_NUMBER = re.compile(r"-(\d+)$")


def _value(text: str, key: str) -> str | None:
    m = re.search(_STRING.format(key=key), text, re.MULTILINE)
    return m.group(1) if m else None


def _read(path: Path) -> str:
    try:
        return trust.read_file(path, path.parent).decode(errors="replace")
    except OSError:
        return ""


def rebuilt_state(ws: Workspace) -> dict[str, Any] | None:
    """state.json's records of the local agents found in the workspace, None when none is
    found. Servers first, each role in the order of its number (as `up` records them)."""
    addresses = files.agents_addresses(ws)
    hosts: list[Host] = []
    nodes, region, datacenter, binary, expect = {}, "global", "dc1", "", None
    for name, (ip, http, rpc, serf) in addresses.items():
        try:
            node = files.node_dir(ws, name)
        except UsageError:
            continue
        text = _read(node.config_file)
        if _value(text, "name") not in (None, name):
            continue  # not the agent this directory is named for
        role = "server" if _SERVER.search(text) else "client"
        hosts.append(Host(name, role, ip, http_port=http))
        nodes[name] = {"ip": ip, "http": http, "rpc": rpc, "serf": serf}
        region = _value(text, "region") or region
        datacenter = _value(text, "datacenter") or datacenter
        if role == "server":
            found = _EXPECT.search(_read(node.config / "join.hcl"))
            expect = int(found.group(1)) if found else expect
        pid = proc.running_pid(node)
        binary = binary or (proc.agent_binary(pid, node) or "" if pid else "")
    if not hosts:
        return None

    def order(h: Host) -> tuple[int, int, str]:
        m = _NUMBER.search(h.name)
        return (h.role != "server", int(m.group(1)) if m else 0, h.name)

    hosts.sort(key=order)
    mode = "ports" if all(h.private_ip == "127.0.0.1" for h in hosts) else "loopback"
    state: dict[str, Any] = {
        "provider": "local",
        "hosts": [h.to_dict() for h in hosts],
        "configured": {h.name: True for h in hosts},
        "install": {"method": "local"},
        "nomad": {"region": region, "datacenter": datacenter},
        "local": {"mode": mode, "nodes": nodes, **({"binary": binary} if binary else {})},
    }
    if expect is not None:
        state["bootstrap_expect"] = expect
    return state


def restore_state(ws: Workspace) -> str | None:
    """Write state.json rebuilt from the local agents when it is gone; what was done, in one
    line, or None (it exists, no agent is found, or another nomadctl holds the cluster: that
    one writes it)."""
    if ws.state_path.exists():
        return None
    try:
        with ws.locked():
            if ws.state_path.exists():
                return None
            state = rebuilt_state(ws)
            if state is None:
                return None
            ws.save_state(state)
    except WorkspaceError:
        return None  # busy, or the workspace cannot be written: the command says what it sees
    count = len(state["hosts"])
    return (
        f"{ws.state_path} was missing: rebuilt from the {count} local agent(s) found in "
        f"{ws.path / 'local'}"
    )
