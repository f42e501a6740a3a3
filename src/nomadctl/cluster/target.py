"""The cluster's life after the hosts exist: configure nodes, wait for a leader, bootstrap
ACLs; how to reach the API. (Taking nomadctl's files off hosts the user keeps is in
`providers.ssh_agents`.)

Each step is idempotent and records what it did in state.json, so re-running `up` after a
failure or an interruption carries on where it stopped.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nomadctl import acl, certstore, nodes, render
from nomadctl.api import ENV_VARS, Api, ApiTarget, target_from_env
from nomadctl.configure import HostResult
from nomadctl.errors import ClusterApiError, RemoteError, WorkspaceError
from nomadctl.hosts import Host
from nomadctl.workspace import Workspace, check_secret

Progress = Callable[[str], None]
API_PORT = 4646


# ---- state ------------------------------------------------------------------------------


def hosts_of(state: Mapping[str, Any]) -> list[Host]:
    try:
        return [Host.from_dict(h) for h in state.get("hosts", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkspaceError(f"state.json has a malformed host entry ({exc})") from None


def ssh_options_from_state(state: Mapping[str, Any], **overrides: Any) -> nodes.SshOptions:
    saved = dict(state.get("ssh") or {})
    opts: dict[str, Any] = {
        "user": saved.get("user", "ubuntu"),
        "key_path": Path(saved["key_path"]) if saved.get("key_path") else None,
        "address": saved.get("address", "public"),
        "bastion": saved.get("bastion"),
    }
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return nodes.SshOptions(**opts)


def record_ssh(ws: Workspace, ssh: nodes.SshOptions) -> None:
    ws.update_state(
        ssh={
            "user": ssh.user,
            "key_path": str(nodes.ssh_key_path(ws, ssh)),
            "address": ssh.address,
            "bastion": ssh.bastion,
        }
    )


# ---- configure + bootstrap ----------------------------------------------------------------


@dataclass
class UpReport:
    hosts: list[HostResult] = field(default_factory=list)
    leader: str | None = None
    acl: str | None = None  # bootstrapped | already | skipped
    stopped: str | None = None  # what did not run because of the failures (ca_passes)

    @property
    def failed(self) -> list[HostResult]:
        return [r for r in self.hosts if r.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": [
                {
                    **r.host.to_dict(),
                    "status": r.status,
                    "changed": r.changed,
                    "restarted": r.restarted,
                    "reloaded": r.reloaded,
                    "error": r.error,
                    "ssh": asdict(r.counters) if r.counters else None,
                }
                for r in self.hosts
            ],
            "leader": self.leader,
            "acl": self.acl,
        }


def configure(
    ws: Workspace,
    hosts: Sequence[Host],
    node: nodes.NodeOptions,
    ssh: nodes.SshOptions,
    progress: Progress,
    on_servers_done: Callable[[list[HostResult]], None] | None = None,
) -> list[HostResult]:
    certstore.ensure(ws, certstore.CertOptions(region=node.facts.nomad_region))
    record_ssh(ws, ssh)
    ws.update_state(
        nomad={"region": node.facts.nomad_region, "datacenter": node.facts.datacenter},
        install={"method": node.facts.install_method},
    )
    results = nodes.configure_all(ws, hosts, node, ssh, progress, on_servers_done)
    record_configured(ws, results)
    return results


def record_configured(ws: Workspace, results: Sequence[HostResult]) -> None:
    """Which hosts are configured, in state.json; hosts not in `results` keep theirs (one
    node configured alone, as a replacement is, forgets no other)."""
    configured = dict(ws.load_state().get("configured") or {})
    configured.update({r.host.name: r.status != "failed" for r in results})
    ws.update_state(configured=configured)


def finish(
    ws: Workspace,
    report: UpReport,
    *,
    bootstrap_acl: bool,
    leader_timeout: float,
    progress: Progress,
    cancel: threading.Event | None = None,
) -> UpReport:
    """Wait for a leader and bootstrap ACLs (once; later runs only check the token)."""
    target = workspace_target(ws)
    api = Api(acl.with_token(target, ""))
    report.leader = api.wait_for_leader(leader_timeout, progress, cancel)
    progress(f"leader elected: {report.leader}")
    if bootstrap_acl:
        result = acl.bootstrap(
            ws, target, progress=progress, leader_timeout=leader_timeout, cancel=cancel
        )
        report.acl = result.status
    else:
        report.acl = "skipped"
    return report


@dataclass
class EarlyFinish:
    """`finish` in its own thread, started once every server is configured.

    The servers can elect a leader, and ACLs be bootstrapped, while clients are still being
    configured (on AWS they also install Docker, which takes much longer than a server).
    Ctrl-C sets `cancel`, which ends the leader wait at once; a bootstrap already sent is
    let finish so its token is saved."""

    ws: Workspace
    bootstrap_acl: bool
    leader_timeout: float
    progress: Progress
    report: UpReport = field(default_factory=UpReport)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self, server_results: list[HostResult]) -> None:
        if any(r.status == "failed" for r in server_results):
            return  # no leader to wait for; the report names the failed servers
        self.thread = threading.Thread(target=self._run, name="nomadctl-finish")
        self.thread.start()

    def _run(self) -> None:
        try:
            finish(
                self.ws,
                self.report,
                bootstrap_acl=self.bootstrap_acl,
                leader_timeout=self.leader_timeout,
                progress=self.progress,
                cancel=self.cancel,
            )
        except BaseException as exc:  # handed to the main thread
            self.error = exc

    def join(self) -> None:
        if self.thread is None:
            return
        try:
            self.thread.join()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.cancel.set()
        if self.thread is not None:
            self.thread.join()


# ---- reaching the API -----------------------------------------------------------------------


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
    cli = certstore.leaf_paths(ws, "cli", region)
    if cli.key.exists():
        check_secret(cli.key)
    stored = acl.load_token(ws, token_kind) if token_kind else None
    return ApiTarget(
        addresses=[f"https://{nodes.ssh_address(h, ssh)}:{h.http_port}" for h in servers],
        ca_file=str(certstore.trust_file(ws)),  # the bundle during a CA rotation
        client_cert=(str(cli.cert), str(cli.key)),
        server_name=f"server.{region}.nomad",
        token=stored["SecretID"] if stored else None,
        region=region,
        timeout=timeout,
    )


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
        return present
    if "NOMAD_ADDR" in present:
        return []
    return [name for name in present if name == "NOMAD_TOKEN"]


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
                "and --home (a named cluster never follows NOMAD_ADDR)"
            )
        raise WorkspaceError(
            f"no cluster {ws.cluster!r} in {ws.home} and NOMAD_ADDR is not set; "
            "run `nomadctl up`, pick a cluster with --cluster, or export NOMAD_ADDR"
        )
    return workspace_target(ws)


def env_lines(ws: Workspace, shell: str, management: bool = False) -> list[str]:
    """`export` lines that point the real nomad CLI (and python-nomad) at the cluster.

    NOMAD_TOKEN is the least-privilege user token; the management token only if asked."""
    target = workspace_target(ws, token_kind="management" if management else "user")
    assert target.client_cert is not None
    values = {
        "NOMAD_ADDR": target.addresses[0],
        "NOMAD_CACERT": target.ca_file,
        "NOMAD_CLIENT_CERT": target.client_cert[0],
        "NOMAD_CLIENT_KEY": target.client_cert[1],
        "NOMAD_TLS_SERVER_NAME": target.server_name,
        "NOMAD_REGION": target.region,
        "NOMAD_TOKEN": target.token,
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


# ---- SSH helpers for commands --------------------------------------------------------------


def find_host(ws: Workspace, name_or_address: str) -> Host:
    hosts = hosts_of(ws.load_state())
    for host in hosts:
        if name_or_address in (host.name, host.private_ip, host.public_ip):
            return host
    short = [h for h in hosts if h.name.endswith(f"-{name_or_address}")]
    if len(short) == 1:
        return short[0]
    known = ", ".join(h.name for h in hosts) or "none recorded"
    raise RemoteError(f"no node {name_or_address!r} in cluster {ws.cluster!r} (nodes: {known})")


def forget_pins(ws: Workspace, hosts: Sequence[Host]) -> list[str]:
    """Drop the known_hosts pins of destroyed hosts: their addresses go back to the cloud's
    pool, and the next machine there has a key of its own (a stale pin would refuse it, or
    a stale trust outlive the machine)."""
    addresses = [a for h in hosts for a in (h.private_ip, h.public_ip) if a]
    return nodes.known_hosts(ws).forget(*addresses) if addresses else []


def reset_acl_bootstrap(ws: Workspace) -> Callable[[int, str], None]:
    """Nomad's documented reset: write the reset index on the leader, over SSH."""

    def reset(index: int, leader: str) -> None:
        leader_ip = leader.rsplit(":", 1)[0]
        state = ws.load_state()
        host = find_host(ws, leader_ip)
        ssh = ssh_options_from_state(state)
        path = f"{render.DATA_DIR}/server/acl-bootstrap-reset"
        with nodes.session_for(ws, host, ssh) as session:
            session.connect(wait=ssh.connect_timeout)
            result = session.sudo(f"umask 077; echo {int(index)} > {path}")
        if result.code != 0:
            raise ClusterApiError(f"writing {path} on {host.name} failed: {result.tail()}")

    return reset


def failure_message(report: UpReport) -> str:
    parts = [f"{r.host.name} ({r.error})" for r in report.failed]
    others = len(report.hosts) - len(report.failed)
    done = f"the other {others} are configured; " if others > 1 else ""
    done = "the other one is configured; " if others == 1 else done
    stopped = f"; {report.stopped}" if report.stopped else ""
    return (
        f"{len(report.failed)} of {len(report.hosts)} host(s) failed: "
        + "; ".join(parts)
        + f"{stopped}; {done}re-run `nomadctl up` to finish"
    )


def ssh_command(ws: Workspace, name_or_address: str, command: Sequence[str]) -> list[str]:
    """argv for OpenSSH's client to a node: our key, our known_hosts, host key pinned.

    `--` comes before the destination: OpenSSH otherwise reads options placed after it
    (`ssh host -oProxyCommand=...` runs that command), so the command stays a command. The
    user and address are checked, paths made safe for ssh's own %-token expansion."""
    import shutil

    from nomadctl import validate

    client = shutil.which("ssh")
    if client is None:
        raise RemoteError("`nomadctl ssh` needs an OpenSSH client (`ssh`) on PATH")
    host = find_host(ws, name_or_address)
    ssh = ssh_options_from_state(ws.load_state())
    key = nodes.ssh_key_path(ws, ssh)
    if not key.exists():
        raise RemoteError(f"SSH key {key} does not exist")
    try:
        user = validate.ssh_user(ssh.user)
        address = validate.host(nodes.ssh_address(host, ssh))
        jump = validate.endpoint(ssh.bastion) if ssh.bastion else None
        key_arg = validate.ssh_config_path(str(key))
        known = validate.ssh_config_path(str(nodes.known_hosts(ws).path))
    except ValueError as exc:
        raise WorkspaceError(f"{ws.state_path}: unusable SSH settings: {exc}") from None
    common = [
        "-i",
        key_arg,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f'UserKnownHostsFile="{known}"',
        "-o",
        "StrictHostKeyChecking=accept-new",  # first contact pins, a change is refused
        "-o",
        "ConnectTimeout=10",
    ]
    argv = [client, *common]
    if jump is not None:
        proxy = shlex.join(
            [
                client,
                *common,
                *("-p", str(jump.port or 22), "-W", "%h:%p"),
                *("--", f"{jump.user or user}@{jump.host}"),
            ]
        )
        argv += ["-o", f"ProxyCommand={proxy}"]
    argv += ["--", f"{user}@{address}", *command]
    return argv
