"""Day-2 ordering: quorum kept, leader last, odd server counts, newest nodes leave first."""

import threading

import pytest

from nomadctl.errors import UsageError
from nomadctl.node.order import (
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


# ---- the roll's bookkeeping (rolling.Roll) without a cluster: restarts are plain callables


def _pending(*names: str):
    from nomadctl.hosts import Host
    from nomadctl.node.configure import HostResult

    return [
        HostResult(Host(n, "client", f"198.18.1.{i + 1}"), "configured", pending=True)
        for i, n in enumerate(names)
    ]


def _roll(restart, lines, **opts):
    from nomadctl.node import roll as rolling
    from nomadctl.node.order import RolloutOptions

    def no_target():
        raise AssertionError("the roll asked for the API")

    roll = rolling.Roll(no_target, RolloutOptions(**opts), restart, lines.append)
    return roll


def test_a_failed_client_stops_the_roll_and_says_where() -> None:
    from nomadctl.errors import RemoteError

    done: list[str] = []
    failed = threading.Event()

    def restart(r) -> None:
        if r.host.name == "c-1":  # still restarting when c-3 fails in c-2's place
            assert failed.wait(5)
        if r.host.name == "c-3":
            raise RemoteError("c-3: restarting the agent failed: boom")
        done.append(r.host.name)
        r.pending, r.restarted = False, True

    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("c-3: failed"):
            failed.set()

    roll = _roll(restart, lines, max_unavailable=2)
    roll.progress = progress
    roll._looked, roll._leader = True, "198.18.0.9:4647"  # a live cluster, no token
    results = _pending("c-1", "c-2", "c-3", "c-4", "c-5")
    roll.clients(results)
    # At most 2 at once, the next as soon as one is done: c-3 took c-2's place while c-1
    # was still restarting; once c-3 failed, neither c-4 nor c-5 started.
    assert sorted(done) == ["c-1", "c-2"]
    status = {r.host.name: (r.status, r.pending) for r in results}
    assert status["c-1"] == status["c-2"] == ("configured", False)
    assert status["c-3"] == status["c-4"] == status["c-5"] == ("failed", True)
    assert "boom" in (results[2].error or "")
    assert "stopped at c-3" in (results[3].error or "")
    assert any("stopped at c-3" in line and "c-4, c-5" in line for line in lines)


def test_the_window_keeps_at_most_max_unavailable_restarting() -> None:
    lock, now, most = threading.Lock(), [0], [0]
    gate = threading.Barrier(3, timeout=5)  # three run together at some point

    def restart(r) -> None:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        if r.host.name in ("c-1", "c-2", "c-3"):
            gate.wait()
        with lock:
            now[0] -= 1
        r.pending, r.restarted = False, True

    roll = _roll(restart, [], max_unavailable=3)
    roll._looked, roll._leader = True, "198.18.0.9:4647"
    results = _pending(*(f"c-{i}" for i in range(1, 8)))
    roll.clients(results)
    assert most[0] == 3 and all(r.restarted for r in results)


def test_without_a_leader_pending_agents_restart_at_once() -> None:
    from nomadctl.node import roll as rolling
    from nomadctl.node.order import RolloutOptions

    started = threading.Barrier(3, timeout=5)  # all three restarts must run together

    def restart(r) -> None:
        started.wait()
        r.pending, r.restarted = False, True

    def no_leader():
        from nomadctl.errors import WorkspaceError

        raise WorkspaceError("no servers recorded")

    roll = rolling.Roll(no_leader, RolloutOptions(), restart, lambda m: None)
    results = _pending("s-1", "s-2", "s-3")
    roll.servers(results)
    assert all(r.restarted and r.status == "configured" for r in results)


def test_pending_marker_survives_a_stopped_roll() -> None:
    from nomadctl.node.configure import PENDING, apply_script, parse_check, restart_script

    deferred = apply_script("", restart=True, upload=True, active=True, defer=True)
    assert f"touch {PENDING}" in deferred and "systemctl restart" not in deferred
    now = apply_script("", restart=True, upload=True, active=True)
    assert now.index(f"rm -f {PENDING}") < now.index("systemctl restart nomad")
    assert f"rm -f {PENDING}" in restart_script()
    assert parse_check("active active\npending yes\n").pending
    assert not parse_check("active active\n").pending


def test_the_last_servers_stable_check_runs_with_the_clients_and_can_stop_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No server restarts after the last one: its "stable for" check runs while the
    clients roll (once it is a healthy voter); when it fails, the roll stops there."""
    from types import SimpleNamespace

    from nomadctl.cluster import quorum
    from nomadctl.errors import ClusterApiError
    from nomadctl.hosts import Host
    from nomadctl.node import roll as rolling
    from nomadctl.node.configure import HostResult

    stopped = threading.Event()

    def safe(self, servers, stable_for=None, **kw):
        if kw.get("back") == "s-3" and stable_for is None:  # the full check of the last
            assert first_client_started.wait(5)  # the clients did not wait for it
            raise ClusterApiError("s-3 is a voter, not yet stable for 2s")
        return quorum.Safe(None, "", "")

    first_client_started = threading.Event()
    monkeypatch.setattr(rolling.Roll, "_safe", safe)
    monkeypatch.setattr(rolling.Roll, "_answers", lambda self, result: None)
    done: list[str] = []

    def restart(r) -> None:
        if r.host.role == "client":
            first_client_started.set()
            assert stopped.wait(5)
        done.append(r.host.name)
        r.pending, r.restarted = False, True

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("rolling restart stopped at s-3"):
            stopped.set()

    lines: list[str] = []
    roll = _roll(restart, lines, max_unavailable=1)
    roll.progress = progress
    roll._looked, roll._leader = True, "198.18.0.9:4647"
    roll._api = SimpleNamespace(target=SimpleNamespace(addresses=[], token=None))
    servers = [
        HostResult(Host(f"s-{i}", "server", f"198.18.0.{i}"), "configured", pending=True)
        for i in (1, 2, 3)
    ]
    clients = _pending("c-1", "c-2")
    roll.servers(servers)
    roll.clients(clients)
    assert done == ["s-1", "s-2", "s-3", "c-1"]
    assert servers[2].status == "failed" and "not yet stable" in (servers[2].error or "")
    assert clients[0].status == "configured"
    assert clients[1].status == "failed" and "stopped at s-3" in (clients[1].error or "")


def test_ctrl_c_during_the_clients_stops_the_last_servers_check_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from nomadctl.cluster import quorum
    from nomadctl.errors import Cancelled
    from nomadctl.hosts import Host
    from nomadctl.node import roll as rolling
    from nomadctl.node.configure import HostResult

    def safe(self, servers, stable_for=None, **kw):
        if kw.get("back") == "s-2" and stable_for is None:  # never stable: waits for cancel
            assert self.cancel.wait(5), "the check was not told to stop"
            raise Cancelled("stopped quorum check for s-2")
        return quorum.Safe(None, "", "")

    monkeypatch.setattr(rolling.Roll, "_safe", safe)
    monkeypatch.setattr(rolling.Roll, "_answers", lambda self, result: None)

    def restart(r) -> None:
        if r.host.role == "client":
            raise KeyboardInterrupt
        r.pending, r.restarted = False, True

    roll = _roll(restart, [], max_unavailable=1)
    roll._looked, roll._leader = True, "198.18.0.9:4647"
    roll._api = SimpleNamespace(target=SimpleNamespace(addresses=[], token=None))
    roll.servers(
        [
            HostResult(Host(f"s-{i}", "server", f"198.18.0.{i}"), "configured", pending=True)
            for i in (1, 2)
        ]
    )
    with pytest.raises(KeyboardInterrupt):
        roll.clients(_pending("c-1"))
    assert roll._settle is None  # joined, not left running
