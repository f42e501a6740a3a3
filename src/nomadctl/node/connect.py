"""Reaching one node of the workspace over SSH: a paramiko session with the cluster's key and
pinned host keys, the OpenSSH argv behind `nomadctl ssh`, pins forgotten when hosts go, and
the ACL bootstrap reset file written on the leader."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nomadctl import validate
from nomadctl.errors import ClusterApiError, RemoteError, WorkspaceError
from nomadctl.hosts import (
    Host,
    SshOptions,
    find_host,
    ssh_address,
    ssh_key_path,
    ssh_options_from_state,
)
from nomadctl.node import render
from nomadctl.workspace import Workspace

if TYPE_CHECKING:  # paramiko only where SSH is used: the local provider never imports it
    from nomadctl.node.ssh import KnownHosts, Session


def known_hosts(ws: Workspace) -> KnownHosts:
    from nomadctl.node.ssh import KnownHosts

    return KnownHosts(ws.path / "known_hosts", ws.write_public)


def session_for(
    ws: Workspace, host: Host, ssh: SshOptions, cancel: threading.Event | None = None
) -> Session:
    """A session to `host`. An AWS instance (it has an instance ID) is never pinned on first
    use: its key comes from its console (providers/aws/first_contact.py) before any
    connection, and a connection to one not pinned yet is refused (`UnverifiedHostKey`)."""
    from nomadctl.node.ssh import Endpoint, Session

    bastion = Endpoint.parse(ssh.bastion, ssh.user) if ssh.bastion else None
    return Session(
        Endpoint(ssh_address(host, ssh), 22, ssh.user),
        ssh_key_path(ws, ssh),
        known_hosts(ws),
        bastion=bastion,
        connect_timeout=ssh.connect_timeout,
        cancel=cancel or threading.Event(),
        first_use=host.instance_id is None,
    )


def forget_pins(ws: Workspace, hosts: Sequence[Host]) -> list[str]:
    """Drop the known_hosts pins of destroyed hosts: their addresses go back to the cloud's
    pool, and the next machine there has a key of its own (a stale pin would refuse it, or
    a stale trust outlive the machine)."""
    addresses = [a for h in hosts for a in (h.private_ip, h.public_ip) if a]
    return known_hosts(ws).forget(*addresses) if addresses else []


def reset_acl_bootstrap(ws: Workspace) -> Callable[[int, str], None]:
    """Nomad's documented reset: write the reset index on the leader, over SSH."""

    def reset(index: int, leader: str) -> None:
        leader_ip = leader.rsplit(":", 1)[0]
        state = ws.load_state()
        host = find_host(ws, leader_ip)
        ssh = ssh_options_from_state(state)
        path = f"{render.DATA_DIR}/server/acl-bootstrap-reset"
        with session_for(ws, host, ssh) as session:
            session.connect(wait=ssh.connect_timeout)
            result = session.sudo(owned_by_agent(path, f"echo {int(index)}"))
        if result.code != 0:
            raise ClusterApiError(f"writing {path} on {host.name} failed: {result.tail()}")

    return reset


def owned_by_agent(path: str, command: str) -> str:
    """Shell: `command`'s output becomes `path`, a file in the agent's data dir, 0600 and
    owned by the data dir's owner (a server runs as `nomad`: node/privilege.py), so the agent
    can read and delete it. Root writes a fresh mktemp file (O_EXCL) and renames it over: no
    link the agent left in its own directory is followed."""
    folder = path.rsplit("/", 1)[0]
    return (
        f'set -eu\numask 077\ntmp=$(mktemp {folder}/.nomadctl.XXXXXX)\n{command} > "$tmp"\n'
        f'chown -h "$(stat -c %u:%g {render.DATA_DIR})" "$tmp"\nmv -f "$tmp" {path}\n'
    )


def ssh_command(ws: Workspace, name_or_address: str, command: Sequence[str]) -> list[str]:
    """argv for OpenSSH's client to a node: our key, our known_hosts, host key pinned.

    `--` comes before the destination: OpenSSH otherwise reads options placed after it
    (`ssh host -oProxyCommand=...` runs that command), so the command stays a command. The
    user and address are checked, paths made safe for ssh's own %-token expansion."""
    import shutil

    client = shutil.which("ssh")
    if client is None:
        raise RemoteError("`nomadctl ssh` needs an OpenSSH client (`ssh`) on PATH")
    host = find_host(ws, name_or_address)
    ssh = ssh_options_from_state(ws.load_state())
    if host.instance_id and not known_hosts(ws).pinned(ssh_address(host, ssh)):
        raise RemoteError(  # OpenSSH's accept-new would pin it on the network's word
            f"{host.name}: its SSH host key was never verified (an instance's key is pinned "
            "from its console output); run `nomadctl up`, which reads it, then try again"
        )
    key = ssh_key_path(ws, ssh)
    if not key.exists():
        raise RemoteError(f"SSH key {key} does not exist")
    try:
        user = validate.ssh_user(ssh.user)
        address = validate.host(ssh_address(host, ssh))
        jump = validate.endpoint(ssh.bastion) if ssh.bastion else None
        key_arg = validate.ssh_config_path(str(key))
        known = validate.ssh_config_path(str(known_hosts(ws).path))
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
        "GlobalKnownHostsFile=/dev/null",  # only the cluster's pins, not the system's
        "-o",
        "UpdateHostKeys=no",  # no key the node offers later is added to them
        "-o",
        "StrictHostKeyChecking=accept-new",  # first contact pins, a change is refused
        "-o",
        "ForwardAgent=no",  # a root on the node could use the agent's keys elsewhere
        "-o",
        "ForwardX11=no",
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
