"""`nomadctl logs NODE`: an agent's log, wherever the agent runs.

Local agents write to a file in the workspace (read here, `--follow` tails it); agents on
hosts log to systemd's journal, read with `journalctl -u nomad` over the cluster's pinned
SSH connection.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from nomadctl import providers, trust
from nomadctl.errors import RemoteError
from nomadctl.hosts import find_host
from nomadctl.node.connect import ssh_command
from nomadctl.workspace import Workspace

FOLLOW_POLL = 0.25  # seconds between two reads of a followed log


def local_log(ws: Workspace, node: str) -> Path:
    from nomadctl.providers.local.files import log_path

    host = find_host(ws, node)
    path = log_path(ws, host.name)
    if not path.exists():
        raise RemoteError(f"{host.name} has no log yet ({path}); run `nomadctl up --local`")
    return path


def _open(path: Path) -> TextIO:
    """The agent's log, never through a symlink, ours alone (trust.open_file)."""
    return os.fdopen(trust.open_file(path, path.parent), "r", encoding="utf-8", errors="replace")


def tail(path: Path, lines: int) -> list[str]:
    with _open(path) as f:
        out = list(deque(f, maxlen=lines)) if lines > 0 else f.readlines()
    if out and not out[-1].endswith("\n"):  # an agent mid-line: end ours
        out[-1] += "\n"
    return out


def follow(path: Path, stop_after: float | None = None) -> Iterator[str]:
    """New lines of `path` as they come (Ctrl-C ends it); `stop_after` seconds for tests."""
    start = time.monotonic()
    with _open(path) as f:
        f.seek(0, os.SEEK_END)
        while stop_after is None or time.monotonic() - start < stop_after:
            line = f.readline()
            if line:
                yield line
            else:
                time.sleep(FOLLOW_POLL)


def remote_command(ws: Workspace, node: str, lines: int, follow_: bool) -> list[str]:
    """argv of OpenSSH's client running journalctl on the node."""
    cmd = ["sudo", "journalctl", "-u", "nomad", "--no-pager", "-n", str(max(lines, 0) or "all")]
    if follow_:
        cmd.append("-f")
    return ssh_command(ws, node, cmd)


def is_local(ws: Workspace) -> bool:
    return providers.recorded(ws) == "local"
