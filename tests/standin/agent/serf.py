"""When serf calls a silent server failed: memberlist's suspicion, as Nomad's servers run it.

Nomad's servers gossip with memberlist's WAN profile (nomad/config.go DefaultConfig, v1.10.5:
`SerfConfig.MemberlistConfig = memberlist.DefaultWANConfig()`; memberlist v0.5.3 per go.mod):
ProbeInterval 5 s, ProbeTimeout 3 s, SuspicionMult 6, and DefaultLANConfig's
SuspicionMaxTimeoutMult 6 (config.go). A server that stops answering

1. is suspected once a probe of it fails: probeNode waits ProbeTimeout for the ack, then the
   indirect probes until ProbeInterval after the ping (state.go probeNode, `deadline`), so no
   sooner than one ProbeInterval after it went silent. Serf still says "alive" meanwhile
   (serf knows alive, leaving, left and failed; suspect is memberlist's own state);
2. is declared dead, serf's "failed", when the suspicion timer fires (state.go suspectNode,
   suspicion.go, util.go suspicionTimeout). With n = estNumNodes() (the members memberlist
   knows, itself included) and k = SuspicionMult - 2, or 0 when n - 2 < k:
   min = SuspicionMult * max(1, log10 n) * ProbeInterval, max = SuspicionMaxTimeoutMult * min;
   the timer starts at max (at min when k = 0), and each independent confirmation (another
   member suspecting it too; not the first suspecter, not itself) brings it to
   max - log(c+1)/log(k+1) * (max - min), never under min (remainingSuspicionTime).

So 35 s after the last answer for 3 to 10 servers (k = 0 up to 5 servers; from 6 on, the
others' confirmations bring 3 min down to min), longer when fewer can confirm. The stand-in
counts every other server that still answers as confirming at once: the earliest Nomad could
call it failed, never sooner.

The stand-in's clock: it gossips every HEARTBEAT (0.5 s) where memberlist probes every
ProbeInterval (5 s), so serf runs at SCALE = HEARTBEAT / ProbeInterval (1/10) and every
duration above is multiplied by it (35 s -> 3.5 s). Raft's own timers are not serf's (raft
reachability and elections use common.FAIL_AFTER).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from .common import HEARTBEAT

PROBE_INTERVAL = 5.0  # memberlist DefaultWANConfig
SUSPICION_MULT = 6  # DefaultWANConfig
SUSPICION_MAX_TIMEOUT_MULT = 6  # DefaultLANConfig, kept by DefaultWANConfig
SCALE = HEARTBEAT / PROBE_INTERVAL
SUSPECT_AFTER = PROBE_INTERVAL * SCALE  # silent this long: a failed probe, suspected
LEAVE_PROPAGATE_DELAY = 1.0  # serf v0.10.2 config.go DefaultConfig, waited by serf.Leave


def suspicion_bounds(n: int) -> tuple[int, float, float]:
    """(k, min, max) in Nomad's seconds for a pool of n members (state.go suspectNode)."""
    k = SUSPICION_MULT - 2
    if n - 2 < k:
        k = 0
    node_scale = max(1.0, math.log10(max(1.0, float(n))))
    low = SUSPICION_MULT * int(node_scale * 1000) * PROBE_INTERVAL / 1000  # util.go
    return k, low, SUSPICION_MAX_TIMEOUT_MULT * low


def suspicion_timeout(confirmations: int, k: int, low: float, high: float) -> float:
    """Seconds from suspicion to failed, in Nomad's time (suspicion.go)."""
    if k < 1:
        return low
    if confirmations < 1:
        return high
    frac = math.log(min(confirmations, k) + 1.0) / math.log(k + 1.0)
    raw = high - frac * (high - low)
    return max(low, math.floor(1000.0 * raw) / 1000.0)


@dataclass
class Suspicion:
    """One member's suspicion timer, on the stand-in's clock (monotonic seconds)."""

    since: float  # when it became suspect: SUSPECT_AFTER after its last answer
    k: int
    low: float
    high: float
    confirmed: set[str] = field(default_factory=set)  # confirmations are never withdrawn
    announced: bool = False  # "Marking ... as failed" logged

    def confirmations(self) -> int:
        return min(len(self.confirmed), self.k)  # Confirm takes no more than k

    def fails_at(self) -> float:
        timeout = suspicion_timeout(self.confirmations(), self.k, self.low, self.high)
        return self.since + timeout * SCALE


def observe(
    name: str,
    last_seen: float,
    current: Suspicion | None,
    others: Iterable[str],
    n: int,
    now: float,
) -> Suspicion | None:
    """The suspicion of member `name` at `now`: none while it answers, else started (or kept)
    with every other member in `others` (still answering, neither `name` nor this server)
    counted as a confirmation."""
    if now - last_seen < SUSPECT_AFTER:
        return None
    if current is None:
        k, low, high = suspicion_bounds(n)
        current = Suspicion(last_seen + SUSPECT_AFTER, k, low, high)
    current.confirmed.update(o for o in others if o != name)
    return current
