"""Issue 29 point 9: the stand-in's serf calls a silent server failed when Nomad's would.

memberlist v0.5.3 (state.go suspectNode, suspicion.go, util.go suspicionTimeout) under
Nomad's WAN profile (nomad/config.go DefaultConfig): suspected one ProbeInterval (5 s) after
going silent, failed SuspicionMult * max(1, log10 n) * ProbeInterval later when k = 0 or all k
confirmations are in, up to SuspicionMaxTimeoutMult times that with none. The stand-in's serf
clock is 1/10 of Nomad's (HEARTBEAT 0.5 s for ProbeInterval 5 s). No clock is read here: every
time is given.
"""

from __future__ import annotations

import math

import pytest

from tests.standin.agent import serf
from tests.standin.agent.common import HEARTBEAT


def test_the_stand_ins_serf_clock_is_its_gossip_heartbeat_for_memberlists_probe_interval() -> None:
    assert serf.SCALE == HEARTBEAT / 5.0 == 0.1
    assert serf.SUSPECT_AFTER == 0.5


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, (0, 30.0, 180.0)),
        (3, (0, 30.0, 180.0)),
        (5, (0, 30.0, 180.0)),  # n - 2 = 3 < k = 4: no confirmations expected
        (6, (4, 30.0, 180.0)),
        (10, (4, 30.0, 180.0)),
        (11, (4, 6 * 1041 * 5 / 1000, 6 * 6 * 1041 * 5 / 1000)),  # log10(11) = 1.0413...
    ],
)
def test_suspicion_bounds_follow_memberlist(n: int, expected: tuple[int, float, float]) -> None:
    k, low, high = serf.suspicion_bounds(n)
    assert (k, low, high) == (expected[0], pytest.approx(expected[1]), pytest.approx(expected[2]))


def test_confirmations_bring_the_timer_from_max_to_min() -> None:
    k, low, high = serf.suspicion_bounds(7)
    assert serf.suspicion_timeout(0, k, low, high) == 180.0
    one = 180.0 - math.log(2) / math.log(5) * 150.0
    assert serf.suspicion_timeout(1, k, low, high) == pytest.approx(math.floor(one * 1000) / 1000)
    assert serf.suspicion_timeout(4, k, low, high) == 30.0
    assert serf.suspicion_timeout(9, k, low, high) == 30.0  # no more than k count
    assert serf.suspicion_timeout(0, 0, low, high) == 30.0  # k = 0 starts at min


def test_a_silent_server_of_three_fails_35_nomad_seconds_after_its_last_answer() -> None:
    others = ["b.global"]
    assert serf.observe("a.global", 100.0, None, others, 3, 100.4) is None  # still answering
    s = serf.observe("a.global", 100.0, None, others, 3, 100.6)
    assert s is not None and s.since == pytest.approx(100.5)
    assert s.confirmations() == 0  # k = 0 with 3 servers: memberlist counts none
    assert s.fails_at() == pytest.approx(100.0 + (5.0 + 30.0) * serf.SCALE)


def test_with_few_left_to_confirm_it_takes_longer_and_confirmations_stay() -> None:
    """7 servers, 3 of them silent together: this one and 2 others still answer, so 3
    confirmations of k = 4. A confirmer that goes silent later is still counted."""
    s = serf.observe("d.global", 0.0, None, ["e.global", "f.global", "g.global"], 7, 1.0)
    assert s is not None and s.confirmations() == 3
    timeout = 180.0 - math.log(4) / math.log(5) * 150.0
    assert s.fails_at() == pytest.approx(0.5 + math.floor(timeout * 1000) / 1000 * serf.SCALE)
    s = serf.observe("d.global", 0.0, s, ["e.global"], 7, 2.0)
    assert s is not None and s.confirmations() == 3
    s = serf.observe("d.global", 0.0, s, ["h.global", "d.global"], 7, 2.5)  # itself: no
    assert s is not None and s.confirmations() == 4
    assert s.fails_at() == pytest.approx(0.5 + 30.0 * serf.SCALE)
