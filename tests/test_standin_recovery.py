"""The stand-in applies a peers.json at start as Nomad does (nomad/server.go setupRaft, raft
peersjson.go ReadConfigJSON, configuration.go checkConfiguration, api.go RecoverCluster):
the first start writes peers.info and deletes a peers.json found beside it; later starts
apply it (keeping the data), then delete it; a bad file or a server with no state stops
the agent with Nomad's words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.standin.agent.common import AgentError, Log
from tests.standin.agent.recovery import apply_peers_json
from tests.standin.agent.state import ClusterState

A = "adf4238a-882b-9ddc-4a9d-5b6758e4159e"
B = "8b6dda82-3103-11e7-93ae-92361f002671"


def state() -> ClusterState:
    return ClusterState(
        index=42,
        term=3,
        voters={A: {"name": "s1.global", "rpc": "10.1.0.1:4647"}, B: {"name": "s2", "rpc": "x"}},
        jobs={"default/web": {"ID": "web"}},
    )


def write(server: Path, entries: object) -> Path:
    raft = server / "raft"
    raft.mkdir(parents=True, exist_ok=True)
    (raft / "peers.json").write_text(json.dumps(entries))
    return raft / "peers.json"


def test_first_start_writes_peers_info_and_ignores_an_old_peers_json(tmp_path: Path) -> None:
    peers = write(tmp_path, [{"id": A, "address": "10.1.0.1:4647"}])
    st, saved = state(), []
    assert not apply_peers_json(tmp_path, st, lambda: saved.append(1), Log())
    assert not peers.exists() and (tmp_path / "raft" / "peers.info").is_file()
    assert (tmp_path / "raft" / "version").read_text() == "3"
    assert len(st.voters) == 2 and not saved


def test_later_start_recovers_keeps_the_data_and_deletes_the_file(tmp_path: Path) -> None:
    apply_peers_json(tmp_path, ClusterState(), lambda: None, Log())  # first start: peers.info
    peers = write(tmp_path, [{"id": A, "address": "10.1.0.1:4647"}])
    st, saved = state(), []
    assert apply_peers_json(tmp_path, st, lambda: saved.append(peers.exists()), Log())
    assert st.voters == {A: {"name": "s1.global", "rpc": "10.1.0.1:4647"}}
    assert st.nonvoters == {} and st.jobs == {"default/web": {"ID": "web"}}
    assert (st.index, st.term) == (42, 3)
    assert saved == [True] and not peers.exists()  # persisted first, then deleted


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ("not json", "recovery failed to parse peers.json"),
        ({"id": A}, "cannot unmarshal object into Go value of type []raft.configEntry"),
        ([{"id": "", "address": "a:1"}], "empty ID in configuration"),
        ([{"id": A, "address": ""}], "empty address in configuration"),
        ([{"id": A, "address": "a:1"}, {"id": A, "address": "b:1"}], "duplicate ID"),
        ([{"id": A, "address": "a:1"}, {"id": B, "address": "a:1"}], "duplicate address"),
        ([{"id": A, "address": "a:1", "non_voter": True}], "need at least one voter"),
        (
            [{"id": A, "address": "a:1", "non_voter": "no"}],
            "cannot unmarshal string into Go struct field configEntry.non_voter of type bool",
        ),
    ],
)
def test_a_bad_peers_json_stops_the_agent(tmp_path: Path, entries: object, error: str) -> None:
    apply_peers_json(tmp_path, ClusterState(), lambda: None, Log())
    peers = tmp_path / "raft" / "peers.json"
    peers.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    with pytest.raises(AgentError) as caught:
        apply_peers_json(tmp_path, state(), lambda: None, Log())
    text = str(caught.value)
    assert text.startswith("Error starting agent: server setup failed: Failed to start Raft: ")
    assert error in text and peers.exists()  # left for the operator to fix


def test_no_state_refuses_to_recover(tmp_path: Path) -> None:
    apply_peers_json(tmp_path, ClusterState(), lambda: None, Log())
    write(tmp_path, [{"id": A, "address": "10.1.0.1:4647"}])
    with pytest.raises(AgentError, match="refused to recover cluster with no initial state"):
        apply_peers_json(tmp_path, ClusterState(), lambda: None, Log())
