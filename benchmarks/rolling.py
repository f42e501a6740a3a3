"""Rolling upgrade (issue 18): 3 servers + 21 clients on testbed hosts with 50 ms of SSH delay.

`up` with stand-in 1.11.0, then `up` with stand-in 1.11.1 (a binary upgrade: every agent
restarts). From the upgrade's time-stamped progress lines: each server's restart-to-healthy
time ("NAME: restarting (server" until "NAME: restarted, servers healthy"), their sum (the
floor: servers restart one at a time by necessity), the whole roll (first server restart to
exit) and its ratio to that floor (goal 1.3x). A thread polls every server's API during the
upgrade: the longest time any one server did not answer.

    python -m benchmarks.rolling [--clients 21] [--delay-ms 50] [--snapshot-share]

`--snapshot-share` (issue 24): then a second upgrade, back to 1.11.0, with `--no-snapshot`; the
first one took its automatic snapshot before the servers' roll. Both walls are reported, and
the snapshot's own time (as its progress line says).

Issue 29, the same run before and after, and a floor without nomadctl:

    python -m benchmarks.rolling --max-unavailable 7 --runs 3 --bare \
        --compare pre-checks=/tmp/pre/src --compare head=/tmp/head/src

Each round upgrades the same cluster once with every nomadctl (this checkout's, then each
`--compare NAME=SRC`, a `git archive` of another commit's src/; the order reversed every
other round; a new stand-in version each time), then with `--bare` does the bare roll
(`benchmarks.bare_roll`: the harness restarts every agent over SSH itself and waits only for
each to be back, nothing of nomadctl's). Per upgrade: the old floor (the servers'
restart-to-healthy lines, summed) and `ratio_to_floor`, and `ratio_to_bare`, the roll over
that round's bare roll; medians over the rounds. Load averages are recorded per upgrade.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, log, nomadctl_argv, run

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.standin import make_binary
from tests.testbed import Testbed


def up_argv(
    tb: Testbed, binary: Path, servers: int = 3, max_unavailable: int = 1, *extra: str
) -> list[str]:
    argv = [*nomadctl_argv(), "up", "--yes", "--json", "--no-docker", "--ssh-user", "ubuntu"]
    argv += list(extra)
    argv += ["--max-unavailable", str(max_unavailable)]
    argv += ["--ssh-key", str(tb.key_path), "--nomad-binary", str(binary)]
    argv += ["--leader-timeout", "120"]
    for i, h in enumerate(tb.hosts):
        argv += ["--server" if i < servers else "--client", h.address]
    return argv


def watch_servers(home: Path, addresses: list[str], stop: threading.Event) -> dict[str, float]:
    """Longest stretch (seconds) each server's HTTP API did not answer."""
    from nomadctl.cluster.api import Api, NoLeader
    from nomadctl.cluster.target import workspace_target
    from nomadctl.errors import ClusterApiError
    from nomadctl.workspace import Workspace

    target = workspace_target(Workspace(home, "bench"), timeout=1.0)
    apis = {a: Api(replace(target, addresses=[f"https://{a}:4646"])) for a in addresses}
    down_since: dict[str, float | None] = dict.fromkeys(addresses)
    longest = dict.fromkeys(addresses, 0.0)
    while not stop.is_set():
        for address, api in apis.items():
            try:
                api.leader()
                ok = True
            except NoLeader:
                ok = True
            except ClusterApiError:
                ok = False
            now = time.monotonic()
            since = down_since[address]
            if not ok and since is None:
                down_since[address] = now
            elif ok and since is not None:
                longest[address] = max(longest[address], now - since)
                down_since[address] = None
        stop.wait(0.02)
    return longest


def snapshot_share(
    tb: Testbed, binary: Path, upgrade: Any, env: dict[str, str], max_unavailable: int
) -> dict[str, Any]:
    """A second upgrade without the automatic snapshot; the first one's snapshot time."""
    argv = up_argv(tb, binary, 3, max_unavailable, "--no-snapshot")
    without = run(argv, env=env, timeout=900)
    if without.returncode != 0:
        log(without.stderr[-2000:])
        return {"without_snapshot": "failed"}
    said = next((line for _, line in upgrade.stderr_lines if "snapshot before" in line), "")
    took = re.search(r", ([0-9.]+) s\)", said)
    return {
        "upgrade_with_snapshot_wall_s": round(upgrade.wall, 2),
        "upgrade_without_snapshot_wall_s": round(without.wall, 2),
        "snapshot_s": float(took.group(1)) if took else None,  # as its progress line says
    }


def upgrade_report(upgrade: Any, args: argparse.Namespace, longest: dict[str, float]) -> dict:
    """One upgrade's figures from its time-stamped progress lines."""
    per_server = {}
    for i in range(1, 4):
        name = f"bench-server-{i}"
        start = upgrade.first(f"{name}: restarting (server")
        end = upgrade.first(f"{name}: restarted, servers healthy")
        if start is not None and end is not None:
            per_server[name] = round(end - start, 2)
    roll_start = upgrade.first(": restarting (server") or 0.0
    clients_start = upgrade.first("clients: ") or upgrade.wall
    floor = sum(per_server.values())
    return {
        "servers": 3,
        "clients": args.clients,
        "delay_ms": args.delay_ms,
        "max_unavailable": args.max_unavailable,
        "upgrade_wall_s": round(upgrade.wall, 2),
        "roll_s": round(upgrade.wall - roll_start, 2),
        # the servers' part: until the clients' roll starts (its first line)
        "servers_roll_s": round(clients_start - roll_start, 2),
        "clients_roll_s": round(upgrade.wall - clients_start, 2),
        "per_server_restart_to_healthy_s": per_server,
        "floor_s": round(floor, 2),
        "ratio_to_floor": round((upgrade.wall - roll_start) / floor, 2) if floor else None,
        "longest_server_unavailable_s": {k: round(v, 2) for k, v in longest.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def one_upgrade(
    tb: Testbed, tmp: Path, binary: Path, env: dict[str, str], args: argparse.Namespace
) -> tuple[Any, dict]:
    stop = threading.Event()
    result: dict[str, Any] = {}
    servers = [h.address for h in tb.hosts[:3]]
    watcher = threading.Thread(
        target=lambda: result.update(watch_servers(tmp / "home", servers, stop))
    )
    load = [round(x, 2) for x in os.getloadavg()]
    watcher.start()
    upgrade = run(up_argv(tb, binary, max_unavailable=args.max_unavailable), env=env, timeout=900)
    stop.set()
    watcher.join()
    if upgrade.returncode != 0:
        log(upgrade.stderr[-2000:])
        raise RuntimeError("the upgrade failed")
    report = upgrade_report(upgrade, args, result)
    report["load_average_before"] = load
    return upgrade, report


def compare(tb: Testbed, tmp: Path, env: dict[str, str], args: argparse.Namespace) -> dict:
    """--runs rounds on one testbed: an upgrade with each nomadctl (this one and every
    --compare NAME=SRC, the order reversed every other round), then the bare roll."""
    from benchmarks import bare_roll, common

    variants: list[tuple[str, Path | None]] = [("this", None)]
    for item in args.compare:
        name, _, src = item.partition("=")
        variants.append((name, Path(src).resolve()))
    rounds: list[dict[str, Any]] = []
    version = 1
    for r in range(args.runs):
        row: dict[str, Any] = {}
        for name, src in variants if r % 2 == 0 else list(reversed(variants)):
            common.NOMADCTL_SRC = src
            binary = make_binary(tmp / f"nomad-1.11.{version}", version=f"1.11.{version}")
            version += 1
            upgrade, row[name] = one_upgrade(tb, tmp, binary, env, args)
            if args.timeline is not None:
                path = args.timeline.with_name(f"{args.timeline.name}.{r + 1}.{name}")
                path.write_text("".join(f"{t:8.3f} {x}\n" for t, x in upgrade.stderr_lines))
            log(f"round {r + 1} {name}: {json.dumps(row[name])}")
        common.NOMADCTL_SRC = None
        if args.bare:
            row["bare"] = bare_roll.measure(tb, tmp / "home", 3, args.max_unavailable)
            row["bare"]["load_average"] = [round(x, 2) for x in os.getloadavg()]
            for name, _ in variants:
                row[name]["ratio_to_bare"] = round(
                    row[name]["roll_s"] / row["bare"]["bare_roll_s"], 2
                )
            log(f"round {r + 1} bare: {json.dumps(row['bare'])}")
        rounds.append(row)
    medians: dict[str, Any] = {}
    keys = ("roll_s", "servers_roll_s", "clients_roll_s", "floor_s", "ratio_to_floor")
    for name, _ in variants:
        keys_here = keys + (("ratio_to_bare",) if args.bare else ())
        medians[name] = {k: statistics.median(row[name][k] for row in rounds) for k in keys_here}
    if args.bare:
        medians["bare"] = {
            k: statistics.median(row["bare"][k] for row in rounds)
            for k in ("bare_roll_s", "bare_servers_s", "bare_clients_s")
        }
    return {"variants": [n for n, _ in variants], "medians": medians, "rounds": rounds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=21)
    p.add_argument("--delay-ms", type=int, default=50)
    p.add_argument("--max-unavailable", type=int, default=1, help="clients restarted at once")
    p.add_argument("--snapshot-share", action="store_true", help="then upgrade without one")
    p.add_argument("--timeline", type=Path, help="write the upgrade's time-stamped lines here")
    p.add_argument("--runs", type=int, default=1, help="rounds (with --compare or --bare)")
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=SRC",
        help="also upgrade with the nomadctl in this src/ dir, each round (same testbed)",
    )
    p.add_argument("--bare", action="store_true", help="each round, the bare roll (the floor)")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="nomadctl-roll-"))
    old = make_binary(tmp / "nomad-1.11.0", version="1.11.0")
    env = {**os.environ, "NOMADCTL_HOME": str(tmp / "home"), "NOMADCTL_CLUSTER": "bench"}
    tb = Testbed.create(3 + args.clients, subnet=None, delay_ms=args.delay_ms)  # a free /24
    try:
        first = run(up_argv(tb, old), env=env, timeout=600)
        if first.returncode != 0:
            log(first.stderr[-2000:])
            return 1
        log(f"first up: {first.wall:.1f}s")
        if args.compare or args.bare or args.runs > 1:
            print(json.dumps(compare(tb, tmp, env, args), indent=2))
            return 0
        new = make_binary(tmp / "nomad-1.11.1", version="1.11.1")
        upgrade, report = one_upgrade(tb, tmp, new, env, args)
        if args.timeline is not None:
            args.timeline.write_text("".join(f"{t:8.3f} {x}\n" for t, x in upgrade.stderr_lines))
        if args.snapshot_share:
            report.update(snapshot_share(tb, old, upgrade, env, args.max_unavailable))
        print(json.dumps(report, indent=2))
        return 0
    finally:
        tb.teardown()


if __name__ == "__main__":
    sys.exit(main())
