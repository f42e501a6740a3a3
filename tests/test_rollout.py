"""Day-2 ordering: quorum kept, leader last, odd server counts, newest nodes leave first."""

import pytest

from nomadctl.errors import UsageError
from nomadctl.rollout import (
    check_server_count,
    client_batches,
    quorum,
    scale_in,
    server_restart_order,
)


def test_quorum_of_common_sizes() -> None:
    assert [quorum(n) for n in (1, 2, 3, 4, 5, 7)] == [1, 2, 2, 3, 3, 4]


def test_restarting_one_server_at_a_time_never_loses_quorum() -> None:
    servers = ["s1", "s2", "s3"]
    order = server_restart_order(servers, leader="s1")
    assert order == ["s2", "s3", "s1"]
    for _ in order:  # one down at a time
        assert len(servers) - 1 >= quorum(len(servers))
    assert server_restart_order(servers, leader=None) == servers
    assert server_restart_order(servers, leader="elsewhere") == servers


def test_client_batches() -> None:
    clients = [f"c{i}" for i in range(1, 8)]
    assert client_batches(clients, 3) == [["c1", "c2", "c3"], ["c4", "c5", "c6"], ["c7"]]
    assert client_batches(clients, 100) == [clients]
    assert client_batches([], 2) == []
    with pytest.raises(UsageError):
        client_batches(clients, 0)


@pytest.mark.parametrize("count", [0, 2, 4, -1])
def test_bad_server_counts_are_refused(count: int) -> None:
    with pytest.raises(UsageError):
        check_server_count(count)


def test_scale_in_takes_the_newest_and_spares_the_leader() -> None:
    servers = ["n-server-1", "n-server-2", "n-server-3", "n-server-4", "n-server-5"]
    clients = ["n-client-1", "n-client-2", "n-client-3"]
    plan = scale_in(servers, clients, want_servers=3, want_clients=1, leader="n-server-5")
    assert plan.servers == ["n-server-4", "n-server-3"]
    assert plan.clients == ["n-client-3", "n-client-2"]
    nothing = scale_in(servers, clients, want_servers=5, want_clients=5)
    assert nothing.servers == [] and nothing.clients == []
    with pytest.raises(UsageError):
        scale_in(servers, clients, want_servers=4, want_clients=3)


def test_the_leader_goes_only_when_every_other_server_does() -> None:
    plan = scale_in(["s1", "s2", "s3"], [], want_servers=1, want_clients=0, leader="s3")
    assert plan.servers == ["s2", "s1"]
    alone = scale_in(["s1", "s2"], [], want_servers=1, want_clients=0, leader="s2")
    assert alone.servers == ["s1"]
