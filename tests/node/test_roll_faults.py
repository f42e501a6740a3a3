"""A roll on hosts you already have, interrupted the way an SRE would (issue 29 point 4):
`nomadctl` SIGKILLed just after a client's agent restarted, before that client was made
eligible again. The re-run must finish the job: the client eligible, every node ready, the
cluster healthy; before, the re-run found nothing left to restart and left the node
ineligible for good.

Real: OpenSSH servers in network namespaces, TLS, the Nomad API over HTTPS. Stand-in: the
`nomad` binary (1.11.0, then 1.11.1 as the upgrade that makes every agent restart).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nomadctl.errors import NomadctlError
from tests.plan.test_day2_roll import Cluster
from tests.standin import make_binary
from tests.standin.harness import wait_for

pytestmark = pytest.mark.testbed


@pytest.fixture
def cluster(testbed_factory, tmp_path: Path) -> Cluster:
    tb = testbed_factory(5)
    old = make_binary(tmp_path / "nomad-1.11.0", version="1.11.0")
    new = make_binary(tmp_path / "nomad-1.11.1", version="1.11.1")
    c = Cluster(tb, tmp_path / "home", old, new)
    c.clients = tb.hosts[3:5]
    return c


def _killed_at(cluster: Cluster, binary: Path, marker: str) -> str:
    """`up` with `binary`, SIGKILLed as soon as it reports `marker`; what it said until then."""
    args = ["up", "--yes", "--no-docker", "--ssh-user", "ubuntu", "--leader-timeout", "60"]
    args += ["--ssh-key", str(cluster.tb.key_path), "--nomad-binary", str(binary)]
    for h in cluster.servers:
        args += ["--server", h.address]
    for h in cluster.clients:
        args += ["--client", h.address]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        "NOMADCTL_HOME": str(cluster.home),
        "NOMADCTL_CLUSTER": "roll",
        "COLUMNS": "200",
    }
    p = subprocess.Popen(
        [sys.executable, "-m", "nomadctl", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert p.stderr is not None
    seen = []
    for line in p.stderr:
        seen.append(line)
        if marker in line:
            p.send_signal(signal.SIGKILL)
            break
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def _nodes(cluster: Cluster) -> dict[str, dict]:
    return {n["Name"]: n for n in cluster.api().nodes()}


def test_killed_after_a_client_restart_the_rerun_makes_it_eligible(cluster: Cluster) -> None:
    first = cluster.up(cluster.old)
    assert first.returncode == 0, first.stderr
    _killed_at(cluster, cluster.new, "roll-client-1: restarted, waiting for it to register")

    def settled() -> dict | None:  # the restarted agent registers in its own time
        try:
            nodes = _nodes(cluster)
        except NomadctlError:
            return None
        return nodes if nodes["roll-client-1"]["Status"] == "ready" else None

    left = wait_for(settled, 60, what="roll-client-1 ready")["roll-client-1"]
    assert left["SchedulingEligibility"] == "ineligible", left  # the fault is there
    again = cluster.up(cluster.new)
    assert again.returncode == 0, again.stderr
    assert "roll-client-1: eligible again" in again.stderr, again.stderr
    nodes = _nodes(cluster)
    assert {n: (v["Status"], v["SchedulingEligibility"]) for n, v in nodes.items()} == {
        "roll-client-1": ("ready", "eligible"),
        "roll-client-2": ("ready", "eligible"),
    }
    from nomadctl.cluster import operations

    assert operations.autopilot_health(cluster.api()).healthy
