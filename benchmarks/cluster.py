"""Parts 2-4: `nomadctl up` against testbed hosts (existing-hosts path, the Nomad stand-in
uploaded with --nomad-binary, --no-docker), with 50 ms of delay per host; SSH round trips per
host from `up --json` (nomadctl's own session counters); end to end on moto + testbed.

Every `up` runs with a fresh NOMADCTL_HOME and its whole output is kept. Its stderr progress
lines are time-stamped as they arrive, which splits a run into start-up (until the first
"connecting to"), configuration (until the last host is done), leader wait ("leader elected")
and ACL bootstrap. CPU is accounted three ways: nomadctl's own process, the testbed hosts
(every process in their namespaces: sshd, sudo, the systemctl shim, the stand-in agents,
the delay relay), and the whole machine (which includes anything else running on it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    Budget,
    BudgetExceeded,
    Run,
    log,
    machine_busy,
    nomadctl_argv,
    process_tree_cpu,
    run,
    summary,
)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.standin import make_binary
from tests.testbed import Testbed

DELAY_MS = 50
SIZES = ((1, 0), (3, 3), (3, 21))  # (servers, clients)
E2E_SUBNET = "198.18.1.0/24"
SETTLE = 2.0  # seconds of quiet before each timed run (the previous agents' shutdown)


# ---- one `up` -------------------------------------------------------------------------------


def phases(r: Run) -> dict[str, float | None]:
    """Split a run by its progress lines (seconds). Since `up` waits for the leader once the
    servers are configured, while clients may still be configured, the leader wait is counted
    from the last server done and may overlap the configure phase; `acl_and_exit` is what
    comes after both (the ACL bootstrap when it was not done meanwhile, and exit)."""

    def last_done(role: str = "") -> float | None:
        done = ": configured (", ": already configured", ": failed:"
        return max(
            (
                t
                for t, line in r.stderr_lines
                if f"-{role}" in line.split(":")[0] and any(d in line for d in done)
            ),
            default=None,
        )

    first = r.first(": connecting to ")
    done, servers_done = last_done(), last_done("server-")
    leader = r.first("leader elected:")
    end_of_both = max(done, leader) if done is not None and leader is not None else None
    return {
        "startup": first,
        "configure": (done - first) if first is not None and done is not None else None,
        "leader_wait": (
            (leader - servers_done) if leader is not None and servers_done is not None else None
        ),
        "acl_and_exit": (r.wall - end_of_both) if end_of_both is not None else None,
    }


def ssh_counters(report: dict[str, Any]) -> dict[str, Any]:
    """Per-host SSH counters from `up --json`, folded: {"1/2/1": hosts} and byte ranges."""
    shapes: dict[str, int] = {}
    sent = []
    for host in report.get("hosts", []):
        c = host.get("ssh") or {}
        key = f"{c.get('connections')}/{c.get('commands')}/{c.get('uploads')}"
        shapes[key] = shapes.get(key, 0) + 1
        sent.append(c.get("bytes_sent", 0))
    return {
        "connections/commands/uploads": shapes,
        "bytes_sent_min": min(sent, default=0),
        "bytes_sent_max": max(sent, default=0),
        "statuses": sorted({h.get("status") for h in report.get("hosts", [])}),
    }


def host_cpu(tb: Testbed) -> float:
    return sum(process_tree_cpu(tb.pids(h)) for h in tb.hosts)


def timed_up(
    argv: list[str], env: dict[str, str], cwd: Path, tb: Testbed, budget: Budget
) -> dict[str, Any]:
    time.sleep(SETTLE)  # harness only: let the previous run's agents finish stopping
    load = os.getloadavg()[0]
    busy0, hosts0 = machine_busy(), host_cpu(tb)
    r = run(argv, env=env, cwd=cwd, timeout=budget.timeout(300))
    busy1, hosts1 = machine_busy(), host_cpu(tb)
    report: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        report = json.loads(r.stdout)
    ok = r.returncode == 0 and bool(report.get("leader"))
    result = {
        "ok": ok,
        "returncode": r.returncode,
        "timed_out": r.timed_out,
        "wall": r.wall,
        "phases": phases(r),
        "cpu_nomadctl": r.cpu,
        "cpu_hosts": hosts1 - hosts0,
        "cpu_machine": busy1 - busy0,
        "cpu_other": (busy1 - busy0) - (hosts1 - hosts0) - r.cpu,
        "loadavg_1m_before": load,
        "acl": report.get("acl"),
        "leader": report.get("leader"),
        "ssh": ssh_counters(report),
        "timeline": [(round(t, 3), line.strip()) for t, line in r.stderr_lines],
    }
    if not ok:
        result["stderr_tail"] = r.stderr[-2000:]
    return result


# ---- testbeds --------------------------------------------------------------------------------


@contextlib.contextmanager
def testbed(n: int, *, subnet: str | None, delay_ms: int) -> Iterator[Testbed]:
    tb = Testbed.create(n, subnet=subnet, delay_ms=delay_ms)
    try:
        yield tb
    finally:
        tb.teardown()


def is_clean(tb: Testbed) -> bool:
    return all(
        tb.unit_pid(h) is None and tb.read_file(h, "/etc/nomad.d/nomad.hcl") is None
        for h in tb.hosts
    )


@dataclass
class Static:
    """`nomadctl up` on a testbed as hosts you already have."""

    tb: Testbed
    servers: int
    binary: Path
    tmp: Path

    def env(self, home: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp),
            "NOMADCTL_HOME": str(home),
            "NOMADCTL_CLUSTER": "bench",
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        }

    def up_argv(self, *extra: str) -> list[str]:
        argv = [*nomadctl_argv(), "up", "--yes", "--json", "--no-docker", "--ssh-user", "ubuntu"]
        argv += ["--ssh-key", str(self.tb.key_path), "--nomad-binary", str(self.binary)]
        argv += ["--leader-timeout", "120"]
        for i, h in enumerate(self.tb.hosts):
            argv += ["--server" if i < self.servers else "--client", h.address]
        return argv + list(extra)

    def down(self, home: Path, budget: Budget) -> float | None:
        r = run(
            [*nomadctl_argv(), "down", "--yes"],
            env=self.env(home),
            cwd=self.tmp,
            timeout=budget.timeout(120),
        )
        return r.wall if r.returncode == 0 else None


# ---- parts 2 and 3 -------------------------------------------------------------------------


MODES = {"default": [], "parallel1": ["--parallel", "1"]}


def distance(budget: Budget, runs: int, sizes=SIZES, modes=tuple(MODES)) -> list[dict[str, Any]]:
    """Configuration at distance (part 2) and round trips per host (part 3)."""
    results: list[dict[str, Any]] = []
    for servers, clients in sizes:
        n = servers + clients
        label = f"{n} host{'s' if n > 1 else ''} ({servers}+{clients})"
        entry: dict[str, Any] = {"label": label, "servers": servers, "clients": clients}
        results.append(entry)
        try:
            budget.need(20 + 6 * n, label)
            _distance_one(budget, runs, servers, n, entry, modes)
        except BudgetExceeded as exc:
            entry["skipped"] = str(exc)
            log(f"skipped: {exc}")
        except Exception as exc:  # one size failing must not cost the others
            entry["skipped"] = f"failed: {type(exc).__name__}: {exc}"
            log(f"{label} FAILED: {exc}")
    return results


def _distance_one(
    budget: Budget, runs: int, servers: int, n: int, entry: dict[str, Any], modes
) -> None:
    with tempfile.TemporaryDirectory(prefix="nomadctl-bench-") as tmp_s:
        tmp = Path(tmp_s)
        binary = make_binary(tmp / "nomad", version="1.11.1")
        t = time.monotonic()
        with testbed(n, subnet=None, delay_ms=DELAY_MS) as tb:
            log(f"{entry['label']}: testbed {tb.id} on {tb.subnet} in {time.monotonic() - t:.1f}s")
            static = Static(tb, servers, binary, tmp)
            entry["subnet"] = tb.subnet
            for mode in modes:
                extra = MODES[mode]
                done: list[dict[str, Any]] = []
                entry[mode] = {"argv_extra": extra, "runs": done}
                try:
                    for i in range(runs):
                        home = tmp / f"home-{mode}-{i}"
                        try:
                            result = timed_up(
                                static.up_argv(*extra), static.env(home), tmp, tb, budget
                            )
                        except BudgetExceeded as exc:
                            entry[mode]["skipped"] = str(exc)
                            break
                        done.append(result)
                        log(
                            f"{entry['label']} {mode} run {i + 1}: {result['wall']:.2f}s "
                            f"ok={result['ok']} {_fmt(result['phases'])}"
                        )
                        if mode == "default" and i == 0:
                            rerun = timed_up(static.up_argv(), static.env(home), tmp, tb, budget)
                            entry["rerun"] = rerun
                            log(f"{entry['label']} no-change re-run: {rerun['wall']:.2f}s")
                        if not result["ok"]:
                            tail = (result.get("stderr_tail") or "").strip().splitlines()
                            raise RuntimeError(
                                f"{entry['label']}: `up` failed: {tail[-1] if tail else '?'}"
                            )
                        result["down_wall"] = static.down(home, budget)
                        if result["down_wall"] is None or not is_clean(tb):
                            raise RuntimeError(f"{entry['label']}: `down` left the hosts unclean")
                finally:
                    _summarize(entry[mode], done)


def _summarize(mode: dict[str, Any], done: list[dict[str, Any]]) -> None:
    ok = [r for r in done if r["ok"]]
    mode["wall"] = summary([r["wall"] for r in ok])
    mode["failed_runs"] = len(done) - len(ok)
    mode["phases"] = {
        phase: summary([r["phases"][phase] for r in ok if r["phases"][phase] is not None])
        for phase in ("startup", "configure", "leader_wait", "acl_and_exit")
    }
    for cpu in ("cpu_nomadctl", "cpu_hosts", "cpu_machine", "cpu_other"):
        mode[cpu] = summary([r[cpu] for r in ok])
    mode["cpu_floor"] = summary(
        [(r["cpu_hosts"] + r["cpu_nomadctl"]) / (os.cpu_count() or 1) for r in ok]
    )


def _fmt(p: dict[str, float | None]) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in p.items() if v is not None)


# ---- part 4 ----------------------------------------------------------------------------------


class Moto:
    """moto's server over real HTTP on loopback, as in tests/aws/fixtures.py."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            resp.read()

    def stop(self) -> None:
        self.server.stop()


@contextlib.contextmanager
def _aws_environ(url: str, tmp: Path) -> Iterator[dict[str, str]]:
    """This process's environment for seeding moto, and the CLI's (as the aws_env fixture)."""
    from tests.aws.fixtures import FAKE_AWS, REGION

    ours = {
        "AWS_ENDPOINT_URL": url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        **FAKE_AWS,
    }
    dropped = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE")
    saved = {k: os.environ.get(k) for k in (*ours, *dropped)}
    for k in dropped:
        os.environ.pop(k, None)
    os.environ.update(ours)
    child = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp / "home"),
        "NO_PROXY": "127.0.0.1,localhost",
        "NOMADCTL_MYIP_URL": "http://127.0.0.1:9/",
        "COLUMNS": "250",
        "PYTHONUNBUFFERED": "1",
        **ours,
    }
    try:
        yield child
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_for_subnet(subnet: str, budget: Budget, patience: float = 120.0) -> None:
    """198.18.1.0/24 is shared with the lifecycle tests: wait a little if one holds it."""
    from tests.testbed import list_testbeds

    deadline = time.monotonic() + min(patience, max(0.0, budget.left() - 60))
    while any(t.get("subnet") == subnet for t in list_testbeds()):
        if time.monotonic() > deadline:
            raise BudgetExceeded(f"{subnet} is held by another testbed")
        time.sleep(2)


def end_to_end(budget: Budget, runs: int) -> dict[str, Any]:
    from tests.aws.fixtures import REGION, seed_ubuntu_ami
    from tests.providers.aws.test_lifecycle import up_args

    entry: dict[str, Any] = {"subnet": E2E_SUBNET, "region": REGION, "runs": []}
    moto = Moto()
    try:
        with tempfile.TemporaryDirectory(prefix="nomadctl-bench-e2e-") as tmp_s:
            tmp = Path(tmp_s)
            (tmp / "home").mkdir()
            binary = make_binary(tmp / "nomad", version="1.11.1")
            with _aws_environ(moto.url, tmp) as env:
                for i in range(runs):
                    try:
                        budget.need(60, f"end to end run {i + 1}")
                        wait_for_subnet(E2E_SUBNET, budget)
                    except BudgetExceeded as exc:
                        entry["skipped"] = str(exc)
                        break
                    moto.reset()
                    seed_ubuntu_ami(REGION)
                    home = tmp / f"nomadctl-home-{i}"
                    run_env = {**env, "NOMADCTL_HOME": str(home)}
                    with testbed(6, subnet=E2E_SUBNET, delay_ms=0) as tb:
                        argv = [*nomadctl_argv(), "--cluster", "bench", *up_args(tb, binary)]
                        up = timed_up(argv, run_env, tmp, tb, budget)
                        status = run(
                            [*nomadctl_argv(), "--cluster", "bench", "status", "--json"],
                            env=run_env,
                            cwd=tmp,
                            timeout=budget.timeout(60),
                        )
                        healthy = False
                        with contextlib.suppress(ValueError):
                            healthy = bool(json.loads(status.stdout).get("healthy"))
                        down = run(
                            [*nomadctl_argv(), "--cluster", "bench", "down", "--yes"],
                            env=run_env,
                            cwd=tmp,
                            timeout=budget.timeout(300),
                        )
                    result = {
                        "up": up,
                        "healthy_after_up": healthy and status.returncode == 0,
                        "down_wall": down.wall,
                        "down_ok": down.returncode == 0,
                    }
                    if down.returncode != 0:
                        result["down_stderr_tail"] = down.stderr[-2000:]
                    entry["runs"].append(result)
                    log(
                        f"end to end run {i + 1}: up {up['wall']:.2f}s ok={up['ok']} "
                        f"healthy={result['healthy_after_up']} down {down.wall:.2f}s "
                        f"ok={result['down_ok']}"
                    )
                    shutil.rmtree(home, ignore_errors=True)
    finally:
        moto.stop()
    good = [r for r in entry["runs"] if r["up"]["ok"] and r["down_ok"]]
    entry["up_wall"] = summary([r["up"]["wall"] for r in good])
    entry["down_wall"] = summary([r["down_wall"] for r in good])
    entry["failed_runs"] = len(entry["runs"]) - len(good)
    return entry
