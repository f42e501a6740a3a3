"""Issue 25's benchmark: a 3+3 `up` over three zones with the load balancer, against a one-zone
`up` without it, in the same run, on moto + testbed (the Nomad stand-in, --no-docker).

Both use one testbed /24 (198.18.44.0/24). The one-zone cluster is `--zones 1
--api-endpoint none` with its subnet 198.18.44.0/26 (nodes .4 to .9); the three-zone cluster
has .0/26, .64/26 and .128/26 (nodes .4/.5, .68/.69, .132/.133) and its load balancer's DNS
name resolves, for nomadctl only, to a TCP relay in a seventh host (as in
tests/providers/aws/test_balancer_testbed.py). Runs alternate (one-zone, three-zone, ...) so
the machine's load hits both alike; the figure is the ratio of the medians, asked to be at
most 1.2.

    python -m benchmarks.zones --runs 3          # prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.cluster import Moto, _aws_environ
from benchmarks.common import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.providers.aws.test_balancer_testbed import (
    CLIENTS,
    DNS,
    RELAY,
    SERVERS,
    TESTBED,
)
from tests.standin import make_binary
from tests.testbed import Testbed

NOMADCTL = [sys.executable, "-m", "nomadctl"]  # this checkout's (PYTHONPATH=src)
ONE_ZONE = [f"198.18.44.{i}" for i in range(4, 10)]
LIMIT = 1.2


def _up(tb: Testbed, binary: Path, env: dict[str, str], tmp: Path, three: bool) -> float:
    hosts = tmp / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + f"\n{RELAY} {DNS}\n")
    layout = ["--zones", "3"] if three else ["--zones", "1", "--api-endpoint", "none"]
    argv = [
        *NOMADCTL,
        "--cluster",
        "nbt",
        "up",
        "--yes",
        "--json",
        "--vpc-cidr",
        "198.18.0.0/16",
        "--subnet-cidr",
        "198.18.44.0/26",
        *layout,
        "--allow-cidr",
        "198.18.0.0/15",
        "--ssh-key",
        str(tb.key_path),
        "--ssh-address",
        "private",
        "--nomad-binary",
        str(binary),
        "--no-docker",
        "--leader-timeout",
        "60",
        "--ssh-wait",
        "30",
    ]
    mount = 'mount --bind "$0" /etc/hosts && exec "$@"'
    started = time.monotonic()
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", mount, str(hosts), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=600,
    )
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"up failed ({proc.returncode}): {proc.stderr[-2000:]}")
    down = subprocess.run(
        [*NOMADCTL, "--cluster", "nbt", "down", "--yes"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=600,
    )
    if down.returncode != 0:
        raise RuntimeError(f"down failed: {down.stderr[-2000:]}")
    return wall


def bench(runs: int) -> dict[str, Any]:
    from tests.aws.fixtures import REGION, seed_ubuntu_ami

    times: dict[str, list[float]] = {"one_zone": [], "three_zones_lb": []}
    moto = Moto()
    try:
        with tempfile.TemporaryDirectory(prefix="nomadctl-bench-zones-") as tmp_s:
            tmp = Path(tmp_s)
            (tmp / "home").mkdir()
            binary = make_binary(tmp / "nomad", version="1.11.1")
            with _aws_environ(moto.url, tmp) as env:
                for i in range(runs):
                    for key, three in (("one_zone", False), ("three_zones_lb", True)):
                        moto.reset()
                        seed_ubuntu_ami(REGION)
                        addresses = [*SERVERS, *CLIENTS, RELAY] if three else ONE_ZONE
                        tb = Testbed.create(len(addresses), subnet=TESTBED, addresses=addresses)
                        relay = None
                        try:
                            if three:
                                relay = _relay(tb, tmp / "relay.json")
                            run_env = {
                                **env,
                                "NOMADCTL_HOME": str(tmp / f"home-{key}-{i}"),
                                "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
                            }
                            times[key].append(_up(tb, binary, run_env, tmp, three))
                        finally:
                            if relay is not None:
                                relay.kill()
                                relay.wait(timeout=30)
                            tb.teardown()
                        print(f"run {i + 1} {key}: {times[key][-1]:.2f}s", file=sys.stderr)
    finally:
        moto.stop()
    one = statistics.median(times["one_zone"])
    three = statistics.median(times["three_zones_lb"])
    return {
        "runs": runs,
        "wall_seconds": times,
        "median_one_zone": round(one, 2),
        "median_three_zones_lb": round(three, 2),
        "ratio": round(three / one, 3),
        "limit": LIMIT,
        "within_limit": three / one <= LIMIT,
        "load_average": os.getloadavg(),
    }


def _relay(tb: Testbed, stats: Path) -> subprocess.Popen[str]:
    host = tb.host(RELAY)
    targets = [a for s in SERVERS for a in ("--target", f"{s}:4646")]
    proc = subprocess.Popen(
        [
            *("ip", "netns", "exec", host.netns, sys.executable, "-m", "tests.aws.nlb_relay"),
            *("--listen", f"{RELAY}:4646", "--stats", str(stats), *targets),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    result = bench(parser.parse_args(argv).runs)
    print(json.dumps(result, indent=2))
    return 0 if result["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
