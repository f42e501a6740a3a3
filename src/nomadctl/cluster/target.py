"""Where the API commands go: the workspace's own cluster (its servers, CA bundle, cli
certificate and stored token) or the Nomad CLI's environment, and the `export` lines that
point the `nomad` CLI at it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
from collections.abc import Mapping
from typing import Any

from nomadctl.cluster import acl
from nomadctl.cluster.api import ENV_VARS, ApiTarget, target_from_env
from nomadctl.errors import WorkspaceError
from nomadctl.hosts import hosts_of, ssh_address, ssh_options_from_state
from nomadctl.pki import store
from nomadctl.workspace import Workspace, check_secret, known_text

API_PORT = 4646


def workspace_target(
    ws: Workspace,
    timeout: float = 5.0,
    token_kind: str | None = "management",  # noqa: S107
) -> ApiTarget:
    """The workspace's own cluster, with its own token of `token_kind` ("management",
    "user", or None for no token)."""
    state = ws.load_state()
    servers = [h for h in hosts_of(state) if h.role == "server"]
    if not servers:
        raise WorkspaceError(
            f"cluster {ws.cluster!r} has no servers recorded in {ws.state_path}; "
            "run `nomadctl up` first, or set NOMAD_ADDR"
        )
    ssh = ssh_options_from_state(state)
    region = (state.get("nomad") or {}).get("region", "global")
    cli = store.leaf_paths(ws, "cli", region)
    if cli.key.exists():
        check_secret(cli.key)
    stored = acl.load_token(ws, token_kind) if token_kind else None
    own = [f"https://{ssh_address(h, ssh)}:{h.http_port}" for h in servers]
    return ApiTarget(
        # The load balancer first (a server may be down); each server's own address after it,
        # for a check of one server (node/roll) and for when the endpoint cannot be reached.
        addresses=[*api_endpoint(state), *own],
        ca_file=str(store.trust_file(ws)),  # the bundle during a CA rotation
        client_cert=(str(cli.cert), str(cli.key)),
        server_name=f"server.{region}.nomad",
        token=stored["SecretID"] if stored else None,
        region=region,
        timeout=timeout,
    )


def api_endpoint(state: Mapping[str, Any]) -> list[str]:
    """The cluster's own API endpoint (AWS: the load balancer), when it has one."""
    endpoint = state.get("api_endpoint") or {}
    address = endpoint.get("address") if isinstance(endpoint, dict) else None
    return [address] if isinstance(address, str) and address.startswith("https://") else []


def answering(addresses: list[str], target: ApiTarget | None = None, timeout: float = 2.0) -> str:
    """The first address whose port takes a connection now (else the first): without a load
    balancer, `env` points the nomad CLI at a server that is up. One address: that one.

    With `target`, the connection then makes a whole mutual-TLS handshake with its
    certificates (its outcome does not matter): a bare connect that closes before the
    handshake is logged by the agent as "http: TLS handshake error ... EOF" (Go's net/http),
    a line per `nomadctl env` in the log that `nomadctl logs` shows (seen by a newcomer)."""
    import ssl

    context = None
    if target is not None:
        context = ssl.create_default_context(cafile=target.ca_file)
        if target.client_cert:
            context.load_cert_chain(*target.client_cert)
    for address in addresses if len(addresses) > 1 else ():
        host, _, port = address.split("//", 1)[-1].rpartition(":")
        try:
            raw = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        except (OSError, ValueError):
            continue
        with raw:  # it takes connections: the one to use, however the handshake goes
            if context is not None and target is not None:
                raw.settimeout(min(timeout, 1.0))
                with contextlib.suppress(OSError):  # ssl.SSLError is an OSError
                    context.wrap_socket(raw, server_hostname=target.server_name).close()
        return address
    return addresses[0]


def ignored_env(
    ws: Workspace, env: Mapping[str, str] | None = None, own_cluster: bool = False
) -> list[str]:
    """The Nomad CLI variables set in `env` that `resolve_target` will not follow.

    All of them when the user named the cluster (or the command works on the workspace's own
    cluster only, `own_cluster`); NOMAD_TOKEN alone (without NOMAD_ADDR) otherwise: it
    belongs to whatever cluster the shell points at, not to this workspace."""
    env = os.environ if env is None else env
    present = [name for name in ENV_VARS if (env.get(name) or "").strip()]
    if ws.named or own_cluster:
        own = own_values(ws)  # what `nomadctl env` exports for this very cluster
        return [name for name in present if env[name].strip() not in own.get(name, ())]
    if "NOMAD_ADDR" in present:
        return []
    return [name for name in present if name == "NOMAD_TOKEN"]


def own_values(ws: Workspace) -> dict[str, tuple[str, ...]]:
    """The values `nomadctl env` (or `env --management`) would export for the workspace's
    cluster: variables holding them point at this cluster, not elsewhere."""
    try:
        target = workspace_target(ws, token_kind=None)
        tokens = tuple(
            t["SecretID"] for kind in ("user", "management") if (t := acl.load_token(ws, kind))
        )
    except (WorkspaceError, OSError):
        return {}
    cert, key = target.client_cert or ("", "")
    return {
        "NOMAD_ADDR": tuple(target.addresses),
        "NOMAD_CACERT": (target.ca_file,),
        "NOMAD_CLIENT_CERT": (cert,),
        "NOMAD_CLIENT_KEY": (key,),
        "NOMAD_TLS_SERVER_NAME": (target.server_name or "",),
        "NOMAD_REGION": (target.region or "",),
        "NOMAD_TOKEN": tokens,
    }


def resolve_target(ws: Workspace, env: Mapping[str, str] | None = None) -> ApiTarget:
    """Where the API commands go, and with which token.

    A cluster the user named (`ws.named`) is always its workspace's own target with its own
    token, whatever NOMAD_ADDR/NOMAD_TOKEN say. Otherwise NOMAD_ADDR (with NOMAD_TOKEN, and
    never a workspace token) when it is set, else the workspace's cluster."""
    env = os.environ if env is None else env
    if not ws.named:
        from_env = target_from_env(env)
        if from_env is not None:
            return from_env
    if not ws.state_path.exists():
        if ws.named:
            raise WorkspaceError(
                f"no cluster {ws.cluster!r} in {ws.home}; run `nomadctl up` or check --cluster "
                f"and --home (a named cluster never follows NOMAD_ADDR; {known_text(ws.home)})"
            )
        raise WorkspaceError(
            f"no cluster {ws.cluster!r} in {ws.home} and NOMAD_ADDR is not set; "
            "run `nomadctl up`, pick a cluster with --cluster, or export NOMAD_ADDR "
            f"({known_text(ws.home)})"
        )
    return workspace_target(ws)


def env_lines(ws: Workspace, shell: str, management: bool = False) -> list[str]:
    """`export` lines that point the real nomad CLI (and python-nomad) at the cluster.

    NOMAD_TOKEN is the least-privilege user token; the management token only if asked."""
    target = workspace_target(ws, token_kind="management" if management else "user")
    assert target.client_cert is not None
    values = {
        "NOMAD_ADDR": (
            api_endpoint(ws.load_state()) or [answering(list(target.addresses), target)]
        )[0],
        "NOMAD_CACERT": target.ca_file,
        "NOMAD_CLIENT_CERT": target.client_cert[0],
        "NOMAD_CLIENT_KEY": target.client_cert[1],
        "NOMAD_TLS_SERVER_NAME": target.server_name,
        "NOMAD_REGION": target.region,
        "NOMAD_TOKEN": target.token,
        "NOMADCTL_CLUSTER": ws.cluster,  # nomadctl's own commands act on it too
    }
    lines = []
    for name, value in values.items():
        if value is None:
            lines.append(f"set -e {name}" if shell == "fish" else f"unset {name}")
        elif shell == "fish":  # fish's single quotes know two escapes: \\ and \'
            quoted = str(value).replace("\\", "\\\\").replace("'", "\\'")
            lines.append(f"set -gx {name} '{quoted}'")
        else:
            lines.append(f"export {name}={shlex.quote(str(value))}")
    return lines
