"""The machines of a cluster as the workspace records them, and how this machine reaches them.

`Host` is one machine, wherever it came from: providers (AWS, hosts the user already has,
local agents) return these and record them in `state.json["hosts"]`. `SshOptions` says how
nomadctl reaches them (user, key, public or private address, bastion); the API uses the same
address choice. The readers here turn state.json's records back into these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nomadctl.errors import RemoteError, WorkspaceError

if TYPE_CHECKING:
    from nomadctl.workspace import Workspace

Role = Literal["server", "client"]
ROLES: tuple[Role, ...] = ("server", "client")


@dataclass(frozen=True)
class Host:
    name: str  # "<cluster>-server-1", "<cluster>-client-3"
    role: Role
    private_ip: str
    public_ip: str | None = None
    instance_id: str | None = None  # None for hosts the user already has
    http_port: int = 4646  # the local provider's agents may each have their own ports
    zone: str | None = None  # AWS: the instance's Availability Zone (Enterprise redundancy zone)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(
                f"host {self.name!r}: role must be server or client, not {self.role!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Host:
        return cls(
            name=d["name"],
            role=d["role"],
            private_ip=d["private_ip"],
            public_ip=d.get("public_ip"),
            instance_id=d.get("instance_id"),
            http_port=int(d.get("http_port") or 4646),
            zone=d.get("zone") or None,
        )


@dataclass(frozen=True)
class SshOptions:
    user: str = "ubuntu"
    key_path: Path | None = None  # default: the workspace's own key
    address: Literal["private", "public"] = "public"
    bastion: str | None = None
    parallel: int = 32
    wait: float = 300.0  # how long to wait for SSH on freshly booted hosts
    connect_timeout: float = 10.0


def ssh_key_path(ws: Workspace, ssh: SshOptions) -> Path:
    return ssh.key_path or ws.path / "ssh" / "id_ed25519"


def ssh_address(host: Host, ssh: SshOptions) -> str:
    if ssh.address == "public" and host.public_ip:
        return host.public_ip
    return host.private_ip


# ---- state.json ---------------------------------------------------------------------------


def hosts_of(state: Mapping[str, Any]) -> list[Host]:
    try:
        return [Host.from_dict(h) for h in state.get("hosts", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkspaceError(f"state.json has a malformed host entry ({exc})") from None


def ssh_options_from_state(state: Mapping[str, Any], **overrides: Any) -> SshOptions:
    saved = dict(state.get("ssh") or {})
    opts: dict[str, Any] = {
        "user": saved.get("user", "ubuntu"),
        "key_path": Path(saved["key_path"]) if saved.get("key_path") else None,
        "address": saved.get("address", "public"),
        "bastion": saved.get("bastion"),
    }
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return SshOptions(**opts)


def record_ssh(ws: Workspace, ssh: SshOptions) -> None:
    ws.update_state(
        ssh={
            "user": ssh.user,
            "key_path": str(ssh_key_path(ws, ssh)),
            "address": ssh.address,
            "bastion": ssh.bastion,
        }
    )


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
