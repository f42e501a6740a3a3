"""`up` during a CA rotation: configure in two passes, so no agent ever presents a certificate
that a peer does not trust yet.

After `certs --rotate-ca` the workspace holds a new CA and the trust bundle (new + old); the
nodes still trust only the old CA and present leaves of the old CA. Pushed in one pass, an agent
that reloaded early would present a leaf of the new CA to peers that still trust only the old
one, and they would refuse it (RPC, HTTP with verify_https_client). So:

- pass 1: every node gets the bundle as its `ca_file` and keeps presenting its current leaf
  (old CA; a node without one, new during the rotation, gets a leaf of the new CA); reloaded;
- pass 2, only when pass 1 configured every node: leaves of the new CA, reloaded again.

Which providers' agents does not matter: `configure` is the provider's own configure (SSH or
local processes), called once per pass with `NodeOptions.rotate_leaves` telling it which pass
this is. A pass 1 that fails on any node stops there; a re-run of `up` carries on (pass 1 then
changes nothing on nodes that already have the bundle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from nomadctl.hosts import Host
from nomadctl.node.configure import HostResult
from nomadctl.node.fleet import NodeOptions
from nomadctl.pki import store
from nomadctl.workspace import Workspace

if TYPE_CHECKING:
    from nomadctl.node.confirm import Confirmer

Progress = Callable[[str], None]
OnServersDone = Callable[[list[Any]], None]
ConfigureFn = Callable[[NodeOptions, Progress, OnServersDone | None], list[HostResult]]

FIRST = "CA rotation pass 1 of 2"
SECOND = "CA rotation pass 2 of 2"
STOPPED = f"{FIRST} (the trust bundle) failed, so pass 2 (certificates of the new CA) did not start"


@dataclass
class Passes:
    results: list[HostResult]
    passes: int = 1  # how many were run
    stopped: str | None = None  # why pass 2 did not run (pass 1 failed somewhere)


def _merge(first: HostResult, second: HostResult) -> HostResult:
    """One node's result over both passes: what either uploaded, reloaded or restarted."""
    if second.status == "failed":
        return second
    changed = list(dict.fromkeys([*first.changed, *second.changed]))
    status = "configured" if "configured" in (first.status, second.status) else second.status
    return replace(
        second,
        status=status,
        changed=changed,
        restarted=first.restarted or second.restarted,
        reloaded=first.reloaded or second.reloaded,
    )


def configure(
    ws: Workspace,
    hosts: Sequence[Host],
    node: NodeOptions,
    progress: Progress,
    configure_fn: ConfigureFn,
    on_servers_done: OnServersDone | None = None,
    confirm: Confirmer | None = None,
) -> Passes:
    """Configure `hosts` with `configure_fn`: once, or in two passes while some node's leaf
    is still the previous CA's (`store.previous_leaves`). With `confirm`, what the
    servers took is checked over TLS (`nomadctl.node.confirm`): after pass 1 that they trust
    the new CA, pass 2 starting only then; after the last pass that they show their
    certificate. A server that does not is a failed node.

    `on_servers_done` (the leader wait and the ACL step, in a thread of their own) is called
    once, when no server will be reloaded again by this run: in pass 2, or when pass 1 stops.
    Started after pass 1 instead, its calls met pass 2's reloads, during which every server's
    HTTP listener is closed and opened anew (command/agent/command.go reloadHTTPServer): on a
    loaded machine, all three at once refused the token check and `up` failed."""
    stale = store.previous_leaves(ws, [h.name for h in hosts])
    if not stale:
        results = configure_fn(node, progress, on_servers_done)
        return Passes(confirm.serving(results, progress) if confirm else results)
    progress(
        f"{FIRST}: the trust bundle (new + old CA) to every node; each keeps presenting its "
        f"current certificate ({len(stale)} of the old CA)"
    )
    first = configure_fn(
        replace(node, rotate_leaves=False), lambda m: progress(f"[pass 1/2] {m}"), None
    )
    if confirm is not None:
        first = confirm.trust(first, lambda m: progress(f"[pass 1/2] {m}"))
    failed = [r.host.name for r in first if r.status == "failed"]
    if failed:
        progress(f"{STOPPED}: {', '.join(failed)} failed")
        if on_servers_done is not None:
            on_servers_done([r for r in first if r.host.role == "server"])
        return Passes(first, 1, STOPPED)
    progress(f"{SECOND}: every node trusts both CAs; certificates of the new CA to every node")
    second = configure_fn(
        replace(node, rotate_leaves=True), lambda m: progress(f"[pass 2/2] {m}"), on_servers_done
    )
    if confirm is not None:
        second = confirm.serving(second, lambda m: progress(f"[pass 2/2] {m}"))
    by_name = {r.host.name: r for r in first}
    return Passes([_merge(by_name[r.host.name], r) for r in second], 2)
