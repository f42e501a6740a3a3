"""How long `nomadctl snapshot save`, `inspect` and `restore` take (issue 24), on local agents.

    python3 benchmarks/snapshot.py                  # stand-in agents, 3+1, 200 jobs, 5 runs
    python3 benchmarks/snapshot.py --jobs 1000 --runs 3 --nomad-binary $(which nomad)

In one fresh home: `nomadctl up --local` (3 servers, 1 client), then `--jobs` jobs and as many
variables registered through the API. Then, `--runs` times each, every one a new `nomadctl`
process timed from its start to its exit: `snapshot save` (into the workspace), `snapshot
inspect` of that file, `snapshot restore --yes` of it. `down --no-snapshot` at the end, whatever
happens. No number here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python3 benchmarks/snapshot.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, log, machine, summary

CLUSTER = "bench"


def nomadctl(home: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, *args],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"nomadctl {' '.join(args)} failed: {proc.stderr.strip()}")
    return took, proc


def fill(home: Path, jobs: int) -> None:
    """`jobs` jobs and as many variables, through the API with the management token."""
    from nomadctl.cluster.api import _session
    from nomadctl.cluster.target import workspace_target
    from nomadctl.workspace import Workspace

    target = workspace_target(Workspace(home, CLUSTER))
    session = _session(target.server_name)
    kw: dict[str, Any] = {
        "cert": target.client_cert,
        "verify": target.ca_file,
        "headers": {"X-Nomad-Token": target.token},
        "timeout": 30,
    }
    base = target.addresses[0]
    for n in range(jobs):
        task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
        job = {
            "ID": f"job-{n}",
            "Name": f"job-{n}",
            "Type": "service",
            "Datacenters": ["dc1"],
            "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [task]}],
        }
        session.put(f"{base}/v1/jobs", json={"Job": job}, **kw).raise_for_status()
        items = {"Items": {"value": "x" * 64, "n": str(n)}}
        session.put(f"{base}/v1/var/bench/{n}", json=items, **kw).raise_for_status()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--nomad-binary", type=Path)
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="nomadctl-bench-snap-") as tmp:
        home = Path(tmp) / "home"
        binary = args.nomad_binary
        if binary is None:
            from tests.standin import make_binary

            binary = make_binary(Path(tmp) / "bin" / "nomad")
        times: dict[str, list[float]] = {"save": [], "inspect": [], "restore": []}
        size = index = 0
        try:
            log("up --local 3+1")
            nomadctl(home, "up", "--local", "--nomad-binary", str(binary), "--servers", "3",
                     "--clients", "1", "--yes")  # fmt: skip
            log(f"registering {args.jobs} jobs and {args.jobs} variables")
            fill(home, args.jobs)
            for run in range(args.runs):
                took, proc = nomadctl(home, "snapshot", "save", "--json")
                saved = json.loads(proc.stdout)
                times["save"].append(took)
                size, index = saved["file_size"], saved["index"]
                times["inspect"].append(nomadctl(home, "snapshot", "inspect", saved["path"])[0])
                took, _ = nomadctl(home, "snapshot", "restore", saved["path"], "--yes")
                times["restore"].append(took)
                log(f"run {run + 1}: save {times['save'][-1]:.2f} s, restore {took:.2f} s")
        finally:
            subprocess.run(
                [sys.executable, "-m", "nomadctl", "--cluster", CLUSTER, "down", "--yes",
                 "--no-snapshot"],
                env={"PATH": "/usr/bin:/bin", "NOMADCTL_HOME": str(home),
                     "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
                capture_output=True, timeout=300, check=False,
            )  # fmt: skip
    results = {
        "machine": machine(),
        "jobs": args.jobs,
        "variables": args.jobs,
        "snapshot_bytes": size,
        "raft_index": index,
        **{k: summary(v) for k, v in times.items()},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main(sys.argv[1:]))
