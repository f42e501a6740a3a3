"""The replicated cluster state (written on the leader, copied to followers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------- state


@dataclass
class ClusterState:
    """Replicated cluster state; lives on the leader, copied to followers."""

    index: int = 0
    term: int = 0
    voters: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {name, rpc}
    nonvoters: dict[str, dict[str, str]] = field(default_factory=dict)  # until promoted
    acl_bootstrap_index: int = 0
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # accessor -> token
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<ns>/<id>" -> job
    allocs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> alloc (day2.py)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)  # snapshot.py
    one_time_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # onetime.py

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClusterState:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def token_by_secret(self, secret: str) -> dict[str, Any] | None:
        return next((t for t in self.tokens.values() if t["SecretID"] == secret), None)
