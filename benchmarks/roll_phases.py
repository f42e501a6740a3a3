"""Where a roll's time goes, from `benchmarks.rolling --timeline` files (issue 29).

    python -m benchmarks.roll_phases /tmp/tl.1.this /tmp/tl.2.this /tmp/tl.3.this

Per file: the time before the first server restart, the servers' part (first restart to the
clients' first line), the clients' part, each server's restart to its "servers healthy" line
and to the next step (the next restart or the clients' start), and per client (medians): the
drain, the restart over SSH, restart done to eligible again, the whole cycle. Prints the
median over the files, then each file's value.
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path


def phases(path: str) -> dict[str, float | None]:
    text = Path(path).read_text().splitlines()
    lines = [(float(x[:8]), x[9:].strip()) for x in text if x[:8].strip()]

    def first(pattern: str, after: float = 0.0) -> float | None:
        return next((t for t, x in lines if t >= after and re.search(pattern, x)), None)

    out: dict[str, float | None] = {}
    start = first(r": restarting \(server") or 0.0
    clients = first(r"^clients: ") or lines[-1][0]
    out["before the first restart"] = start
    out["servers' part"] = clients - start
    out["clients' part"] = lines[-1][0] - clients
    servers = [(m.group(1), t) for t, x in lines if (m := re.match(r"(\S+): restarting \(ser", x))]
    for k, (name, t) in enumerate(servers):
        healthy = first(re.escape(name) + r": restarted, servers healthy", t)
        after = servers[k + 1][1] if k + 1 < len(servers) else clients
        out[f"server {k + 1}: restart to 'servers healthy'"] = healthy - t if healthy else None
        out[f"server {k + 1}: restart to next step"] = after - t
    steps: dict[str, list[float]] = {"drain": [], "restart": [], "back": [], "cycle": []}
    for t, x in lines:
        m = re.match(r"(\S+): (draining|marking ineligible)", x)
        if not m:
            continue
        name = re.escape(m.group(1))
        began = first(name + r": restarting$", t)
        done = first(name + r": restarted, (waiting|eligible)", t)
        back = first(name + r": restarted, eligible again", t)
        if began is None or done is None or back is None:
            continue
        steps["drain"].append(began - t)
        steps["restart"].append(done - began)
        steps["back"].append(back - done)
        steps["cycle"].append(back - t)
    for key, values in steps.items():
        out[f"client {key} (median)"] = statistics.median(values) if values else None
    return out


def main(paths: list[str]) -> int:
    rows: dict[str, list[float]] = {}
    for path in paths:
        for key, value in phases(path).items():
            if value is not None:
                rows.setdefault(key, []).append(value)
    for key, values in rows.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{key}: {statistics.median(values):.2f} s ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
