"""``python -m tests.testbed up|down|list``: test hosts for people (see __init__.py).

``up`` prints the hosts as JSON and leaves them running after it exits; ``down`` removes
every testbed made by ``up`` (or one, with ``--id``).
"""

from __future__ import annotations

import argparse
import json
import sys

from tests.testbed.core import (
    DEFAULT_FIRST_HOST,
    DEFAULT_SUBNET,
    Testbed,
    TestbedError,
    destroy_by_id,
    list_testbeds,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create hosts and leave them running")
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument(
        "--subnet",
        default=DEFAULT_SUBNET,
        help=f"CIDR inside 198.18.0.0/15 (default {DEFAULT_SUBNET}; 'auto' = free one)",
    )
    up.add_argument("--first-host", type=int, default=DEFAULT_FIRST_HOST)
    up.add_argument("--delay-ms", type=int, default=0)
    down = sub.add_parser("down", help="remove testbeds made by 'up'")
    down.add_argument("--id", help="only this testbed (any kind)")
    sub.add_parser("list", help="list testbeds on this machine")
    args = ap.parse_args(argv)

    if args.cmd == "up":
        try:
            tb = Testbed.create(
                args.hosts,
                subnet=None if args.subnet == "auto" else args.subnet,
                first_host=args.first_host,
                delay_ms=args.delay_ms,
                persistent=True,
            )
        except TestbedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(tb.info(), indent=2))
        return 0
    if args.cmd == "down":
        states = list_testbeds()
        if args.id:
            if not any(s["id"] == args.id for s in states):
                print(f"error: no testbed {args.id}", file=sys.stderr)
                return 1
            destroy_by_id(args.id)
            print(f"removed {args.id}")
            return 0
        for s in states:
            if s.get("persistent"):
                destroy_by_id(s["id"])
                print(f"removed {s['id']}")
        return 0
    for s in list_testbeds():
        kind = "up" if s.get("persistent") else f"owner pid {s.get('owner_pid')}"
        print(f"{s['id']}  {s['subnet']:<18} {len(s['hosts'])} hosts  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
