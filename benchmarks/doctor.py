"""`nomadctl doctor`'s wall time (issue 26, point 10: under 2 s locally), as a new process.

    python3 benchmarks/doctor.py                      # 5 runs per case
    python3 benchmarks/doctor.py --runs 10 --compare /tmp/old/src --json out.json

`doctor --json` (its findings checked: the binary found, the clock asked only with a
cluster) and `doctor` (the table a user reads). Two cases, in one fresh NOMADCTL_HOME,
with the stand-in `nomad` 1.11.1 first on PATH (so the binary probe runs `nomad version`,
as with a real binary at hand) and no AWS set-up:
1. `no cluster`: nothing to compare the clock with.
2. `local 3+3 up`: a cluster made by `nomadctl up --local` (not timed), so the clock probe
   asks one of its servers over mutual TLS; it is taken down at the end.
Runs of this checkout and of `--compare SRC` (an older src/, e.g. `git archive`) alternate,
so machine noise hits both alike. No number here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python3 benchmarks/doctor.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common
from benchmarks.common import ROOT, log, machine, run, summary


def _argv(src: Path | None) -> list[str]:
    common.NOMADCTL_SRC = src
    try:
        return common.nomadctl_argv()
    finally:
        common.NOMADCTL_SRC = None


def _env(home: Path, bin_dir: Path) -> dict[str, str]:
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(home),
        "NOMADCTL_HOME": str(home / "nomadctl"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "COLUMNS": "200",
        "LANG": "C.UTF-8",
    }


def _times(
    argvs: dict[str, list[str]], env: dict[str, str], runs: int, clock: bool
) -> dict[str, Any]:
    walls: dict[str, list[float]] = {f"{n}{t}": [] for n in argvs for t in ("", " (table)")}
    for _ in range(runs):
        for name, argv in argvs.items():
            table = run([*argv, "doctor"], env=env, timeout=60)  # what a user reads
            if table.returncode not in (0, 1) or "python" not in table.stdout:
                raise RuntimeError(f"{name}: doctor failed: {table.stderr[-400:]}")
            walls[f"{name} (table)"].append(table.wall)
            r = run([*argv, "doctor", "--json"], env=env, timeout=60)
            if r.returncode not in (0, 1):  # 1: a problem found, still a whole run
                raise RuntimeError(f"{name}: doctor failed ({r.returncode}): {r.stderr[-400:]}")
            found = {f["check"]: f["level"] for f in json.loads(r.stdout)}
            if found.get("nomad binary") != "ok" or (found.get("clock") == "ok") != clock:
                raise RuntimeError(f"{name}: not the case measured: {found}")
            walls[name].append(r.wall)
    return {name: summary(v) for name, v in walls.items()}


def measure(runs: int, compare: Path | None) -> dict[str, Any]:
    from tests.standin import make_binary

    argvs = {"this checkout": _argv(None)}
    if compare is not None:
        argvs[f"{compare}"] = _argv(compare.resolve())
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nomadctl-bench-doctor-") as tmp:
        home = Path(tmp)
        binary = make_binary(home / "bin" / "nomad", version="1.11.1")
        env = _env(home, binary.parent)
        log("doctor, no cluster")
        out["no cluster"] = _times(argvs, env, runs, clock=False)
        up = run(
            [*argvs["this checkout"], "up", "--local", "--yes", "--nomad-binary", str(binary)],
            env=env,
            timeout=180,
        )
        if up.returncode != 0:
            raise RuntimeError(f"up --local failed: {up.stderr[-600:]}")
        try:
            log("doctor, local 3+3 up")
            out["local 3+3 up"] = _times(argvs, env, runs, clock=True)
        finally:
            run([*argvs["this checkout"], "down", "--yes", "--no-snapshot"], env=env, timeout=120)
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| case | nomadctl | median | min | max | n | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for case, rows in result["cases"].items():
        for name, s in rows.items():
            lines.append(
                f"| {case} | {name} | {s['median']:.2f} s | {s['min']:.2f} s | "
                f"{s['max']:.2f} s | {s['n']} | < 2 s |"
            )
    load = result["machine"].get("loadavg_start", "")
    head = f"`nomadctl doctor --json` and `nomadctl doctor` (table), wall; load at start: {load}"
    return "\n".join([head, "", *lines])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--compare", type=Path, help="another checkout's src/ (e.g. git archive)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    result = {"machine": machine(), "cases": measure(args.runs, args.compare)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
