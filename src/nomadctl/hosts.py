"""The Host record: one machine of the cluster, wherever it came from.

Providers (AWS, or hosts the user already has) return these; node configuration reads them
from `state.json["hosts"]`. Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

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
        )
