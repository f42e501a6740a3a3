"""The local provider's speed (issue 17): up to a healthy bootstrapped 3+3 cluster, against
the same six agents started by hand with the same configs, and a no-change re-run.

    python3 benchmarks/local.py                          # stand-in agents, 3 runs
    python3 benchmarks/local.py --nomad-binary $(which nomad) --runs 5 --json out.json

Each run, in order, in one fresh home:
1. `up`: a new Python process runs what `nomadctl up --local` runs (plan, apply, certificates,
   configure, leader wait, ACL bootstrap); timed from its start to its exit.
2. `re-run`: the up process again with every agent running; nothing is restarted.
3. `by hand`: the agents are stopped and their data removed, then the same six
   `nomad agent -config <dir>` are started directly (same configs, same certificates) and
   timed until `/v1/status/leader` names a leader over mTLS.
Every started agent is stopped at the end, whatever happens. No number here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python3 benchmarks/local.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, log, machine, summary

CLUSTER = "bench"
UP = """
import sys
from pathlib import Path
from nomadctl.plan import ca_rotation
from nomadctl.pki import store
from nomadctl.cluster.target import workspace_target
from nomadctl.plan.finish import EarlyFinish
from nomadctl.node import fleet
from nomadctl.node import render
from nomadctl.node import confirm as tls_confirm
from nomadctl.cluster.api import warm_up
from nomadctl.providers.local.provider import LocalOptions, LocalProvider
from nomadctl.workspace import Workspace

ws = Workspace(Path(sys.argv[1]), sys.argv[2])
provider = LocalProvider(LocalOptions(nomad_binary=Path(sys.argv[3])))
quiet = lambda _m: None
applied = provider.apply(ws, provider.plan(ws, quiet), quiet)
store.ensure(ws, store.CertOptions())
facts = render.ClusterFacts(
    gossip_key=store.read_gossip_key(ws),
    servers=[h for h in applied.hosts if h.role == "server"],
)
# As `up` runs it (plan/up.py): leader wait and ACL bootstrap start once the servers are up;
# configure ends with the servers checked over TLS (tls_confirm).
warm_up()
early = EarlyFinish(ws, True, 60, quiet)
agents = provider.agents(ws)
results = ca_rotation.configure(
    ws,
    applied.hosts,
    fleet.NodeOptions(facts),
    quiet,
    lambda node, p, done: agents.configure(ws, applied.hosts, node, p, done),
    on_servers_done=early.start,
    confirm=tls_confirm.Confirmer(ws),
).results
early.join()
if early.error:
    raise early.error
report = early.report
print(",".join(r.status for r in results), report.leader, report.acl)
"""


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(ROOT)])}


def timed_up(home: Path, binary: Path) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", UP, str(home), CLUSTER, str(binary)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=180,
        check=False,
    )
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"up failed: {proc.stderr.strip()[-800:]}")
    return took, proc.stdout.strip()


def by_hand(home: Path, binary: Path) -> float:
    """Stop the agents, wipe their data, start the same six directly; time to a leader."""
    sys.path.insert(0, str(ROOT / "src"))
    from nomadctl.cluster.api import Api
    from nomadctl.cluster.target import workspace_target
    from nomadctl.providers.local import proc as proc
    from nomadctl.workspace import Workspace

    ws = Workspace(home, CLUSTER)
    dirs = sorted((ws.path / "local").iterdir())
    nodes = [proc.NodeDir(d) for d in dirs]
    proc.stop_all([p for p in (proc.running_pid(n) for n in nodes) if p])
    for n in nodes:
        shutil.rmtree(n.data)
        n.data.mkdir(mode=0o700)
    api = Api(workspace_target(ws, token_kind=None))
    start = time.monotonic()
    for n in nodes:
        proc.start(binary, n)  # the same command line nomadctl uses, nothing else
    while True:
        try:
            leader = api.leader()
        except Exception:
            leader = ""
        if leader:
            return time.monotonic() - start
        if time.monotonic() - start > 60:
            raise RuntimeError("by hand: no leader after 60s")
        time.sleep(0.02)


def destroy(home: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from nomadctl.providers.local.provider import LocalProvider
    from nomadctl.workspace import Workspace

    LocalProvider().destroy(Workspace(home, CLUSTER), lambda _m: None)


def one_run(binary: Path) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="nomadctl-bench-local-"))
    try:
        up, line = timed_up(home, binary)
        log(f"up {up:.2f}s ({line})")
        again, line = timed_up(home, binary)
        if set(line.split()[0].split(",")) != {"unchanged"}:
            raise RuntimeError(f"re-run changed something: {line}")
        log(f"re-run {again:.2f}s ({line})")
        hand = by_hand(home, binary)  # last: it wipes the agents' data (and ACL state)
        log(f"by hand {hand:.2f}s")
        return {"up": up, "by_hand": hand, "rerun": again}
    finally:
        destroy(home)
        shutil.rmtree(home, ignore_errors=True)


def run(binary: Path, runs: int) -> dict[str, Any]:
    rows = [one_run(binary) for _ in range(runs)]
    out = {k: summary([r[k] for r in rows]) for k in ("up", "by_hand", "rerun")}
    out["ratio"] = out["up"]["median"] / out["by_hand"]["median"]
    out["binary"] = str(binary)
    return out


def markdown(result: dict[str, Any]) -> str:
    def row(name: str, key: str, target: str) -> str:
        s = result[key]
        return f"| {name} | {s['median']:.2f} | {s['min']:.2f} | {s['max']:.2f} | {target} |"

    ratio = result["ratio"]
    return "\n".join(
        [
            f"Binary: `{result['binary']}`; {result['up']['n']} runs; seconds.",
            "",
            "| measurement | median | min | max | target |",
            "|---|---|---|---|---|",
            row("`up --local` to bootstrapped 3+3 (new process)", "up", "<= 1.5x by hand"),
            row("same six agents by hand, to a leader", "by_hand", "-"),
            row("no-change re-run (new process)", "rerun", "< 1 s"),
            "",
            f"up / by hand (medians): **{ratio:.2f}x**.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nomad-binary", type=Path, help="default: the stand-in (tests/standin)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nomadctl-bench-bin-") as tmp:
        binary = args.nomad_binary
        if binary is None:
            from tests.standin import make_binary

            binary = make_binary(Path(tmp) / "nomad", version="1.11.1")
        result = run(binary.absolute(), args.runs)
    result["machine"] = machine()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
