"""See over TLS that the servers took what `up` gave them, before going on.

A reload is a SIGHUP, and nothing comes back from it: Nomad reloads its TLS files in its
signal handler (command/agent/command.go handleReload -> Agent.Reload) and, when that fails,
logs the error and carries on with the files it had. So nomadctl looks as a peer would:

- `trust`, after pass 1 of a CA rotation: each server accepts a client certificate of the new
  CA (it checks client certificates against its `ca_file`, verify_https_client), so pass 2 can
  hand out leaves of the new CA without any server refusing them;
- `serving`, after every configure: each server shows the certificate its node files hold;
- `previous_ca_servers`, before a CA rotation is finished: the servers not yet showing a
  certificate of the new CA (the guard reads the cluster, not the workspace's copy).

Servers only, over the addresses the API uses: they are what nomadctl reaches and what every
node must reach; a client's own HTTPS port need not be open to this machine. A server that
does not come round within the timeout is reported as failed, in one line, and a re-run checks
again.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nomadctl.cluster import tls_probe
from nomadctl.errors import NomadctlError
from nomadctl.hosts import hosts_of, ssh_address, ssh_options_from_state
from nomadctl.node.configure import HostResult
from nomadctl.workspace import Workspace

Progress = Callable[[str], None]
TIMEOUT = 30.0  # a reload takes milliseconds; a server that just started may take seconds
ATTEMPT = 2.0  # one connection; a stopped agent completes TCP but never the handshake


Watch = Callable[[], dict[str, str]]  # agents that died, by node name, with why
WATCH_EVERY = 0.25  # seconds between two looks at the agents during a check


@dataclass
class Confirmer:
    """`watch` (the provider's: local pid files, or systemd over SSH) ends the wait for
    a server whose agent died at once, with why, instead of after the timeout."""

    ws: Workspace
    timeout: float = TIMEOUT
    watch: Watch | None = None

    def _targets(self, results: Sequence[HostResult]) -> tuple[dict[str, Any], Any, list[int]]:
        """The TLS settings every probe shares (the API's: trust bundle, cli certificate,
        server name), the SSH options that say which address of a host is reachable, and
        which results are servers to look at (configured or unchanged; not failed, not
        waiting for a roll to restart them)."""
        from nomadctl.cluster.target import workspace_target

        picked = [
            i
            for i, r in enumerate(results)
            if r.host.role == "server" and r.status != "failed" and not r.pending
        ]
        if not picked:
            return {}, None, []
        api = workspace_target(self.ws, token_kind=None)
        common = {
            "ca_file": api.ca_file,
            "client_cert": api.client_cert,
            "server_name": api.server_name,
            "timeout": ATTEMPT,
        }
        return common, ssh_options_from_state(self.ws.load_state()), picked

    def _each(
        self,
        results: list[HostResult],
        picked: list[int],
        check: Callable[[HostResult, threading.Event], None],
    ) -> list[HostResult]:
        """Run `check` on the picked results in parallel; a failure marks its result failed.
        A server whose agent died (`watch`) has its check stopped, and why is its error."""
        stops = {results[i].host.name: threading.Event() for i in picked}
        dead: dict[str, str] = {}

        def one(i: int) -> tuple[int, str | None]:
            name = results[i].host.name
            try:
                check(results[i], stops[name])
            except NomadctlError as exc:
                return i, dead.get(name, exc.message)
            return i, None

        out = list(results)
        with self._watching(stops, dead), ThreadPoolExecutor(max(1, len(picked))) as pool:
            for i, error in pool.map(one, picked):
                if error is not None:
                    out[i] = replace(out[i], status="failed", error=error)
        return out

    @contextmanager
    def _watching(self, stops: dict[str, threading.Event], dead: dict[str, str]) -> Iterator[None]:
        if self.watch is None:
            yield
            return
        watch, done = self.watch, threading.Event()

        def look() -> None:
            while not done.wait(WATCH_EVERY):
                for name, why in watch().items():
                    if name in stops and name not in dead:
                        dead[name] = why
                        stops[name].set()

        thread = threading.Thread(target=look, name="nomadctl-watch-agents")
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def trust(self, results: list[HostResult], progress: Progress) -> list[HostResult]:
        """Every picked server accepts a client certificate of the workspace's (new) CA."""
        from nomadctl.pki import issue, store

        common, ssh, picked = self._targets(results)
        if not picked:
            return results
        progress(f"checking over TLS that {len(picked)} server(s) trust the new CA")
        probe = issue.new_leaf(store.load_ca(self.ws), "cli", days=1)
        with tempfile.TemporaryDirectory(prefix="nomadctl-probe-") as tmp:  # 0700
            cert, key = Path(tmp) / "probe.pem", Path(tmp) / "probe-key.pem"
            self.ws.write_public(cert, issue.cert_pem(probe.cert))
            self.ws.write_secret(key, issue.key_pem(probe.key))
            target = {**common, "client_cert": (str(cert), str(key))}

            def check(r: HostResult, stop: threading.Event) -> None:
                host = ssh_address(r.host, ssh)
                port = r.host.http_port
                tls_probe.wait_trusting(
                    self.timeout, progress, stop, host=host, port=port, **target
                )

            return self._each(results, picked, check)

    def serving(self, results: list[HostResult], progress: Progress) -> list[HostResult]:
        """Every picked server shows the certificate in its node files."""
        from nomadctl.pki import issue, store

        common, ssh, picked = self._targets(results)
        if not picked:
            return results
        progress(f"checking over TLS that {len(picked)} server(s) show their certificate")

        def check(r: HostResult, stop: threading.Event) -> None:
            serial = issue.load_cert(store.node_paths(self.ws, r.host.name).cert).serial_number
            host = ssh_address(r.host, ssh)
            port = r.host.http_port
            tls_probe.wait_serving(
                serial, self.timeout, progress, stop, host=host, port=port, **common
            )

        return self._each(results, picked, check)


def previous_ca_servers(ws: Workspace, timeout: float = ATTEMPT) -> list[str]:
    """The servers that do not show, over TLS, a certificate of the workspace's new CA (or
    do not answer): while any is left, a CA rotation is not finished, whatever the
    workspace's copies of the certificates say (a run killed after issuing the new leaves,
    before the nodes took them, leaves the workspace ahead of the cluster)."""
    from nomadctl.cluster.target import workspace_target
    from nomadctl.pki import store

    servers = [h for h in hosts_of(ws.load_state()) if h.role == "server"]
    if not servers:
        return []
    api = workspace_target(ws, token_kind=None)
    ssh = ssh_options_from_state(ws.load_state())
    new_ca = str(store.ca_paths(ws).cert)  # the new CA alone: an old leaf fails verification

    def shows_new(host: Any) -> str | None:
        try:
            tls_probe.served_serial(
                ssh_address(host, ssh),
                host.http_port,
                ca_file=new_ca,
                client_cert=api.client_cert,
                server_name=api.server_name or "",
                timeout=timeout,
            )
        except NomadctlError:
            return host.name
        return None

    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        return [name for name in pool.map(shows_new, servers) if name]
