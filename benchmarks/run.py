"""Run nomadctl's benchmarks (issue 8) and write the results.

    python3 benchmarks/run.py                       # everything, about 6 minutes
    python3 benchmarks/run.py --parts cli,sleeps    # a few seconds
    python3 benchmarks/run.py --update-doc docs/benchmarks.md --json benchmarks/results.json

Needs root (testbed network namespaces), openssh-server and the test extras (moto[server]).
The whole run is bounded by --budget; testbeds, moto and every started process are removed
even when a part fails or the run is interrupted. No number here is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python3 benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common, report
from benchmarks.common import Budget, BudgetExceeded, log, machine, terminate_on_signals

PARTS = ("cli", "sleeps", "distance", "e2e")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    p.add_argument("--cli-runs", type=int, default=20, help="runs per CLI command (default 20)")
    p.add_argument(
        "--cli-compare",
        type=Path,
        help="also time --help of the nomadctl in this src/ dir (an older commit: git archive)",
    )
    p.add_argument(
        "--src",
        type=Path,
        help="run the nomadctl of this src/ dir in the cluster parts (before/after runs)",
    )
    p.add_argument("--cluster-runs", type=int, default=3, help="runs per cluster size (3)")
    p.add_argument(
        "--modes",
        default="default,parallel1",
        help="up modes of the distance part: default (--parallel 32), parallel1",
    )
    p.add_argument("--e2e-runs", type=int, default=3, help="end-to-end up/down runs (3)")
    p.add_argument(
        "--sizes",
        default="1+0,3+3,3+21",
        help="servers+clients per configuration (default 1+0,3+3,3+21)",
    )
    p.add_argument("--budget", type=float, default=840.0, help="seconds for the whole run (840)")
    p.add_argument("--json", type=Path, help="write all results (every run) as JSON here")
    p.add_argument("--update-doc", type=Path, help="replace the generated section of this file")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    sizes = tuple(tuple(int(x) for x in s.split("+")) for s in args.sizes.split(","))

    if args.src is not None:
        common.NOMADCTL_SRC = args.src.resolve()
    budget = Budget(args.budget)
    results: dict[str, Any] = {"machine": machine(), "errors": {}, "argv": sys.argv[1:]}
    if args.src is not None:
        results["machine"]["nomadctl_src"] = str(common.NOMADCTL_SRC)
    failed = False
    with terminate_on_signals():
        for part in parts:
            log(f"part {part}: {budget.left():.0f}s of budget left")
            try:
                if part == "cli":
                    from benchmarks import cli_start

                    results["cli"] = cli_start.measure(budget, args.cli_runs, args.cli_compare)
                elif part == "sleeps":
                    from benchmarks import sleeps

                    results["sleeps"] = sleeps.scan()
                elif part == "distance":
                    from benchmarks import cluster

                    results["distance"] = cluster.distance(
                        budget, args.cluster_runs, sizes, args.modes.split(",")
                    )
                elif part == "e2e":
                    from benchmarks import cluster

                    results["e2e"] = cluster.end_to_end(budget, args.e2e_runs)
            except BudgetExceeded as exc:
                results["errors"][part] = f"skipped: {exc}"
                log(f"part {part} skipped: {exc}")
            except Exception as exc:  # report it, carry on with the next part
                failed = True
                results["errors"][part] = "".join(traceback.format_exception(exc))[-3000:]
                log(f"part {part} FAILED: {exc}")
    results["elapsed"] = time.monotonic() - budget.start
    text = report.render(results)
    print(text)
    if results["errors"]:
        print("\nErrors:\n" + "\n".join(f"{k}: {v}" for k, v in results["errors"].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    if args.update_doc:
        doc = args.update_doc.read_text() if args.update_doc.exists() else ""
        args.update_doc.write_text(report.update_doc(doc, text))
    log(f"done in {results['elapsed']:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
