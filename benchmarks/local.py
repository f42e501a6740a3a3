"""The local provider's speed (issues 17 and 26): `nomadctl up --local` end to end, against
the same agents started by hand, and a no-change re-run.

    python3 benchmarks/local.py                          # stand-in agents, 3+3, 3 runs
    python3 benchmarks/local.py --nomad-binary $(which nomad) --runs 5 --json out.json
    python3 benchmarks/local.py --clients 1 --compare /tmp/old/src   # an older checkout too

Each run, in order, in one fresh home:
1. `up`: `nomadctl up --local --yes --nomad-binary B --servers 3 --clients N` as a process,
   from its start to its exit: binary check, certificates, configs, agents started, each
   listening, leader, ACL bootstrap, the user policy and token, and the summary.
2. `re-run`: the same command again with every agent running; nothing may change.
3. `by hand`: the agents are stopped and their data removed (so ACLs are not bootstrapped);
   certificates and configs stay, as one would prepare them once (not timed). Timed: the same
   `B agent -config <dir>` started for every node back to back (servers first, the command
   line nomadctl uses), then what `up` waits for and does, the way it observes it: each agent
   accepting TCP on its HTTP port, `/v1/status/leader` over mTLS naming a leader (polled every
   0.1 s), `POST /v1/acl/bootstrap`, then the same user policy and token (two more calls with
   the management token). These are HTTP calls from this process, cheaper than the three
   `nomad acl ...` processes a person would run: the by-hand side is, if anything, fast.
With `--compare SRC`, that checkout's `up` runs too (its own fresh home), alternating.
Every started agent is stopped at the end, whatever happens. No number here is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python3 benchmarks/local.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common
from benchmarks.common import ROOT, log, machine, run, summary

CLUSTER = "bench"
POLL = 0.1  # a by-hand `until nomad operator raft ...; do sleep 0.1; done`


def _env(home: Path) -> dict[str, str]:
    src = str(ROOT / "src")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, str(ROOT)]),
        "NOMADCTL_HOME": str(home),
        "NOMADCTL_CLUSTER": CLUSTER,
        "COLUMNS": "120",
    }


def _argv(src: Path | None) -> list[str]:
    common.NOMADCTL_SRC = src
    try:
        return common.nomadctl_argv()
    finally:
        common.NOMADCTL_SRC = None


def timed_up(
    argv: list[str], home: Path, binary: Path, clients: int
) -> tuple[float, list[tuple[float, str]]]:
    cmd = [*argv, "up", "--local", "--yes", "--nomad-binary", str(binary)]
    r = run([*cmd, "--servers", "3", "--clients", str(clients)], env=_env(home), timeout=180)
    if r.returncode != 0:
        raise RuntimeError(f"up failed ({r.returncode}): {r.stderr[-800:]}")
    return r.wall, r.stderr_lines


def _listening(ip: str, port: int, deadline: float) -> None:
    while True:
        with contextlib.suppress(OSError), socket.create_connection((ip, port), timeout=1.0):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"by hand: nothing listens on {ip}:{port}")
        time.sleep(0.02)


def by_hand(home: Path, binary: Path) -> float:
    """Stop the agents, wipe their data; start the same ones directly, then leader and ACLs."""
    sys.path.insert(0, str(ROOT / "src"))
    from nomadctl.cluster import acl
    from nomadctl.cluster.api import Api
    from nomadctl.cluster.target import workspace_target
    from nomadctl.hosts import hosts_of
    from nomadctl.providers.local import proc
    from nomadctl.workspace import Workspace

    ws = Workspace(home, CLUSTER)
    hosts = sorted(hosts_of(ws.load_state()), key=lambda h: (h.role != "server", h.name))
    nodes = [proc.NodeDir(ws.path / "local" / h.name) for h in hosts]
    proc.stop_all([p for p in (proc.running_pid(n) for n in nodes) if p])
    for n in nodes:
        shutil.rmtree(n.data)
        n.data.mkdir(mode=0o700)
    target = workspace_target(ws, token_kind=None)
    api = Api(target)
    start = time.monotonic()
    deadline = start + 60
    for n in nodes:
        proc.start(binary, n)  # the same command line nomadctl uses, nothing else
    for h in hosts:
        _listening(h.private_ip, h.http_port, deadline)
    while True:
        with contextlib.suppress(Exception):
            if api.leader():
                break
        if time.monotonic() > deadline:
            raise RuntimeError("by hand: no leader after 60s")
        time.sleep(POLL)
    secret = api.bootstrap()["SecretID"]
    admin = Api(acl.with_token(target, secret))
    admin.create_policy(acl.USER_POLICY, "by hand", acl.USER_POLICY_RULES)
    admin.create_token("user", [acl.USER_POLICY])
    return time.monotonic() - start


def _phases(lines: list[tuple[float, str]]) -> dict[str, float]:
    """When `up` printed its landmarks (seconds from its start)."""
    marks = {
        "first agent started": "agent started",
        "leader seen": "leader elected",
        "user token": "user token",
    }
    out = {}
    for key, needle in marks.items():
        hit = next((t for t, line in lines if needle in line), None)
        if hit is not None:
            out[key] = hit
    return out


def destroy(home: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from nomadctl.providers.local.provider import LocalProvider
    from nomadctl.workspace import Workspace

    LocalProvider().destroy(Workspace(home, CLUSTER), lambda _m: None)


def one_run(argvs: dict[str, list[str]], binary: Path, clients: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, argv in argvs.items():
        home = Path(tempfile.mkdtemp(prefix="nomadctl-bench-local-"))
        try:
            up, lines = timed_up(argv, home, binary, clients)
            phases = _phases(lines)
            log(f"{name}: up {up:.2f}s {phases}")
            row[f"up: {name}"] = up
            row[f"phases: {name}"] = phases
            if name != "this checkout":
                continue
            again, lines = timed_up(argv, home, binary, clients)
            quiet = sum("nothing to do" in line for _, line in lines)
            if quiet != 3 + clients:
                raise RuntimeError(f"re-run changed something: {[x for _, x in lines]}")
            log(f"re-run {again:.2f}s")
            row["rerun"] = again
            row["by_hand"] = by_hand(home, binary)  # last: it wipes the agents' data and ACLs
            log(f"by hand {row['by_hand']:.2f}s")
        finally:
            destroy(home)
            shutil.rmtree(home, ignore_errors=True)
    return row


def measure(binary: Path, runs: int, clients: int, compare: Path | None) -> dict[str, Any]:
    argvs = {"this checkout": _argv(None)}
    if compare is not None:
        argvs[str(compare)] = _argv(compare.resolve())
    rows = [one_run(argvs, binary, clients) for _ in range(runs)]
    keys = [f"up: {n}" for n in argvs] + ["by_hand", "rerun"]
    out: dict[str, Any] = {k: summary([r[k] for r in rows]) for k in keys}
    out["phases"] = [{k: v for k, v in r.items() if k.startswith("phases")} for r in rows]
    out["ratio"] = out["up: this checkout"]["median"] / out["by_hand"]["median"]
    out["binary"] = str(binary)
    out["clients"] = clients
    return out


def markdown(result: dict[str, Any]) -> str:
    def row(name: str, key: str, target: str) -> str:
        s = result[key]
        return f"| {name} | {s['median']:.2f} | {s['min']:.2f} | {s['max']:.2f} | {target} |"

    size = f"3+{result['clients']}"
    ups = [k for k in result if k.startswith("up: ")]
    lines = [
        f"Binary: `{result['binary']}`; {result['by_hand']['n']} runs; seconds; "
        f"load at start {result['machine']['loadavg_start']}.",
        "",
        "| measurement | median | min | max | target |",
        "|---|---|---|---|---|",
        *(
            row(f"`nomadctl up --local` {size}, end to end ({k[4:]})", k, "<= 1.5x by hand")
            for k in ups
        ),
        row(f"same {size} agents by hand: start, listening, leader, ACL bootstrap, user token",
            "by_hand", "-"),
        row("no-change re-run (new process)", "rerun", "< 1 s"),
        "",
        f"up / by hand (medians): **{result['ratio']:.2f}x**.",
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nomad-binary", type=Path, help="default: the stand-in (tests/standin)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--compare", type=Path, help="another checkout's src/ (e.g. git archive)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nomadctl-bench-bin-") as tmp:
        binary = args.nomad_binary
        if binary is None:
            from tests.standin import make_binary

            binary = make_binary(Path(tmp) / "nomad", version="1.11.1")
        result = measure(binary.absolute(), args.runs, args.clients, args.compare)
    result["machine"] = machine()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
