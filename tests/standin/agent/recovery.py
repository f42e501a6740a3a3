"""Outage recovery: a `peers.json` in `<data_dir>/server/raft/` applied at start, as Nomad does.

Read from Nomad v1.10.5 and hashicorp/raft v1.7.3 (the version Nomad's go.mod pins):

- nomad/server.go setupRaft: the raft directory is `<data_dir>/server/raft/` (`raftState`;
  command/agent/agent.go sets the server's DataDir to `<data_dir>/server`, where the
  `node-id` file also lives, setupNodeID). The first start writes `peers.info` (the help text
  below) and deletes any `peers.json` found beside it; a later start that finds `peers.json`
  logs "found peers.json file, recovering Raft configuration...", reads it with
  `raft.ReadConfigJSON` (raft protocol 3), calls `raft.RecoverCluster` with that
  configuration, then deletes the file ("deleted peers.json file after successful recovery").
  An error is `recovery failed to parse peers.json: ...` / `recovery failed: ...`, wrapped by
  NewServer as `Failed to start Raft: ...` and by the agent as `server setup failed: ...`:
  the agent does not start.
- raft peersjson.go ReadConfigJSON: a JSON list of `{"id", "address", "non_voter"}`
  (non_voter false when left out), then configuration.go checkConfiguration: no empty ID or
  address, no duplicate ID or address, at least one voter.
- raft api.go RecoverCluster: refuses a server with no existing state ("refused to recover
  cluster with no initial state, this is probably an operator error"); otherwise keeps the
  FSM's data (every entry of the log counts as committed) and its last index and term, and
  makes the given configuration the server's only one.

The stand-in keeps its raft "configuration" as `ClusterState.voters` / `.nonvoters` (id ->
{name, rpc}) in its state file, so recovery replaces those two maps and keeps the rest: jobs,
tokens, policies, nodes. A name it does not know reads "(unknown)", as Nomad's
RaftGetConfiguration (nomad/operator_endpoint.go) says of a raft server serf does not know.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import AgentError, Log
from .state import ClusterState

RAFT_DIR = "raft"
RAFT_PROTOCOL = "3"

# nomad/server.go peersInfoContent, shortened to its rule (the stand-in says it is one).
PEERS_INFO = """
Written by the Nomad stand-in for tests (not HashiCorp Nomad), as Nomad writes it.
As of Nomad 0.5.5, the peers.json file is only used for recovery after an outage.
For Raft protocol version 3 and later, it is a JSON array of
{"id": "<node-id>", "address": "<ip>:4647", "non_voter": false} entries, one per server.
The "id" field is the node ID of the server, in the "node-id" file inside the server's
data directory. Once this peers.info file is present, any peers.json file will be
ingested at startup, and will set the Raft peer configuration manually to recover from an
outage. Once the peers.json file is successfully ingested and applied, it will be deleted.
"""


def _fail(text: str) -> AgentError:
    return AgentError(f"Error starting agent: server setup failed: Failed to start Raft: {text}")


def _unmarshal(value: object, into: str) -> str:
    """encoding/json's UnmarshalTypeError, as ReadConfigJSON passes it on."""
    kinds = {bool: "bool", str: "string", list: "array", dict: "object", int: "number"}
    kind = kinds.get(type(value), "number")
    return f"recovery failed to parse peers.json: json: cannot unmarshal {kind} into {into}"


def read_config_json(path: Path) -> list[tuple[str, str, bool]]:
    """raft.ReadConfigJSON: (id, address, voter) per server, checked as checkConfiguration."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _fail(f"recovery failed to parse peers.json: {exc}") from None
    if not isinstance(raw, list):
        raise _fail(_unmarshal(raw, "Go value of type []raft.configEntry"))
    servers = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise _fail(_unmarshal(entry, "Go value of type raft.configEntry"))
        fields = (("id", str, "raft.ServerID"), ("address", str, "raft.ServerAddress"))
        for key, kind, go_type in (*fields, ("non_voter", bool, "bool")):
            value = entry.get(key)
            if value is not None and not isinstance(value, kind):
                raise _fail(
                    _unmarshal(value, f"Go struct field configEntry.{key} of type {go_type}")
                )
        sid, addr = entry.get("id") or "", entry.get("address") or ""
        servers.append((sid, addr, not entry.get("non_voter")))
    _check_configuration(servers)
    return servers


def _check_configuration(servers: list[tuple[str, str, bool]]) -> None:
    """raft configuration.go checkConfiguration (the messages without Go's %v dump)."""
    ids: set[str] = set()
    addrs: set[str] = set()
    for sid, addr, _voter in servers:
        if not sid:
            raise _fail("recovery failed to parse peers.json: empty ID in configuration")
        if not addr:
            raise _fail("recovery failed to parse peers.json: empty address in configuration")
        if sid in ids:
            raise _fail(
                f"recovery failed to parse peers.json: found duplicate ID in configuration: {sid}"
            )
        if addr in addrs:
            raise _fail(
                "recovery failed to parse peers.json: found duplicate address in "
                f"configuration: {addr}"
            )
        ids.add(sid)
        addrs.add(addr)
    if not any(voter for _s, _a, voter in servers):
        raise _fail("recovery failed to parse peers.json: need at least one voter in configuration")


def apply_peers_json(
    server_dir: Path, state: ClusterState, persist: Callable[[], None], log: Log
) -> bool:
    """setupRaft's peers.info / peers.json handling for one server at start: True when
    `state` took the configuration of a peers.json (persisted with `persist` before the file
    is deleted, as RecoverCluster writes its snapshot before setupRaft removes the file)."""
    path = server_dir / RAFT_DIR
    path.mkdir(parents=True, exist_ok=True)
    (path / "version").write_text(RAFT_PROTOCOL)
    peers_file, info_file = path / "peers.json", path / "peers.info"
    if not info_file.exists():
        info_file.write_text(PEERS_INFO)
        if peers_file.exists():
            peers_file.unlink()
            log("INFO", "nomad: deleted peers.json file (see peers.info for details)")
        return False
    if not peers_file.exists():
        return False
    log("INFO", "nomad: found peers.json file, recovering Raft configuration...")
    servers = read_config_json(peers_file)
    if state.index == 0:  # raft.HasExistingState: nothing was ever written here
        raise _fail(
            "recovery failed: refused to recover cluster with no initial state, "
            "this is probably an operator error"
        )
    known: dict[str, dict[str, Any]] = state.voters | state.nonvoters
    voters = {
        sid: {"name": known.get(sid, {}).get("name", "(unknown)"), "rpc": addr}
        for sid, addr, voter in servers
        if voter
    }
    nonvoters = {
        sid: {"name": known.get(sid, {}).get("name", "(unknown)"), "rpc": addr}
        for sid, addr, voter in servers
        if not voter
    }
    state.voters, state.nonvoters = voters, nonvoters
    persist()
    try:
        peers_file.unlink()
    except OSError as exc:
        raise _fail(
            "recovery failed to delete peers.json, please delete manually "
            f"(see peers.info for details): {exc}"
        ) from None
    log("INFO", "nomad: deleted peers.json file after successful recovery")
    return True
