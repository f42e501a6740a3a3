"""Before `up` writes anything for hosts you already have: Docker's install, asked of each
client that will need it (issue 26, point 9).

A client without Docker gets it from its package mirror while it is configured; an
air-gapped host (a `--nomad-binary` run) has none, and finding out then left certificates,
state and a configured server behind. Here each such client is asked first, side by side:
Docker already there, or `apt-get update` answering (node/configure.check_mirror, the same
check configure makes). One that cannot reach a mirror stops `up` before any certificate,
state or upload, with `--no-docker` named. A client that does not answer SSH at once is
left to configure, which waits for it and reports it as before.

On a first `up` there is no workspace yet: the host keys met here are pinned in a private
temporary file and handed to `apply`, which keeps them as the workspace's first pins (so
configure meets the same keys); a re-run uses the workspace's own pins.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nomadctl.errors import NomadctlError, RemoteError
from nomadctl.hosts import Host, SshOptions, ssh_address, ssh_key_path
from nomadctl.node.configure import check_mirror
from nomadctl.node.connect import known_hosts
from nomadctl.providers.base import Progress
from nomadctl.workspace import Workspace

HAS_DOCKER = "command -v docker >/dev/null 2>&1"


def docker_preflight(
    ws: Workspace, clients: Sequence[Host], ssh: SshOptions, progress: Progress
) -> bytes | None:
    """Raise RemoteError (one line, every client that cannot get Docker) before anything is
    written; return the pins met on a first `up` (None: the workspace's own were used)."""
    from nomadctl.node.ssh import Endpoint, KnownHosts, Session

    if not clients:
        return None
    first = not (ws.path / "known_hosts").exists()
    with tempfile.TemporaryDirectory(prefix="nomadctl-preflight-") as tmp:
        pins = KnownHosts(Path(tmp) / "known_hosts", lambda p, d: p.write_bytes(d))
        store = pins if first else known_hosts(ws)
        bastion = Endpoint.parse(ssh.bastion, ssh.user) if ssh.bastion else None

        def one(host: Host) -> str | None:
            session = Session(
                Endpoint(ssh_address(host, ssh), 22, ssh.user),
                ssh_key_path(ws, ssh),
                store,
                bastion=bastion,
                connect_timeout=ssh.connect_timeout,
                cancel=threading.Event(),
            )
            try:
                try:
                    session.connect(wait=0)
                except NomadctlError:
                    return None  # configure waits for it and says why
                if session.sudo(HAS_DOCKER, timeout=60).code == 0:
                    return None
                progress(f"{host.name}: Docker is not installed; asking its package mirror")
                check_mirror(session, host)
                return None
            except RemoteError as exc:
                return exc.message.removeprefix(f"{host.name}: ")
            finally:
                session.close()

        with ThreadPoolExecutor(max_workers=max(1, min(ssh.parallel, len(clients)))) as pool:
            found = list(zip(clients, pool.map(one, clients), strict=True))
        failed = [(h.name, why) for h, why in found if why is not None]
        if failed:
            raise RemoteError(_message(failed))
        path = Path(tmp) / "known_hosts"
        return path.read_bytes() if first and path.exists() else None


def _message(failed: list[tuple[str, str]]) -> str:
    """One line: each distinct reason once, with the clients it holds for."""
    reasons: dict[str, list[str]] = {}
    for name, why in failed:
        reasons.setdefault(why.replace(name, "<node>"), []).append(name)
    parts = [f"{why} ({', '.join(names)})" for why, names in reasons.items()]
    return "; ".join(parts) + "; nothing was written here or uploaded to any host"
