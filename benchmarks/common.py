"""What every benchmark part shares: the time budget, statistics, the machine's description,
CPU accounting, and running a command with a timeline of its stderr lines that is always
killed (with its whole process group) when the benchmark stops."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HZ = os.sysconf("SC_CLK_TCK")


class BudgetExceeded(Exception):
    """The run's time budget is spent: the remaining measurements are skipped."""


@dataclass
class Budget:
    """The whole run's wall-clock allowance; every wait is bounded by what is left."""

    seconds: float
    start: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def need(self, seconds: float, what: str) -> None:
        if self.left() < seconds:
            raise BudgetExceeded(f"{what}: {self.left():.0f}s left, {seconds:.0f}s needed")

    def timeout(self, wanted: float) -> float:
        left = self.left()
        if left <= 1:
            raise BudgetExceeded("time budget spent")
        return min(wanted, left)


def summary(values: Sequence[float]) -> dict[str, Any]:
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "values": []}
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "values": [round(v, 4) for v in vals],
    }


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


# ---- the machine ----------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _free_h() -> str:
    free = shutil.which("free")
    if not free:
        return "(free not installed)"
    return subprocess.run([free, "-h"], capture_output=True, text=True, check=False).stdout


def _version(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "?"


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    def dist(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "not installed"

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "free_h": _free_h().rstrip(),
        "cpu_model": _cpu_model(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "packages": {n: dist(n) for n in ("typer", "click", "rich", "paramiko", "moto")},
        "openssh": _version("ssh", "-V"),
        "loadavg_start": os.getloadavg(),
        "git_commit": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
    }


# ---- CPU accounting -------------------------------------------------------------------------


def machine_busy() -> float:
    """CPU-seconds the whole machine has been busy since boot (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / HZ


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_tree_cpu(pids: Sequence[int]) -> float:
    """utime+stime+cutime+cstime of live processes: with their reaped descendants included,
    the sum over every live process of a testbed host is what the host has used so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(stat[i]) for i in (11, 12, 13, 14))
    return total / HZ


# ---- running commands -----------------------------------------------------------------------

_LIVE: set[subprocess.Popen[str]] = set()
_LIVE_LOCK = threading.Lock()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
            return


def kill_all_children() -> None:
    """Stop every command this benchmark started that is still running (by process group)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        _kill_group(proc)


@dataclass
class Run:
    argv: list[str]
    returncode: int | None
    wall: float
    stdout: str
    stderr_lines: list[tuple[float, str]]  # (seconds since start, line)
    cpu: float  # CPU-seconds of the command and its children
    timed_out: bool = False

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.stderr_lines)

    def first(self, needle: str) -> float | None:
        return next((t for t, line in self.stderr_lines if needle in line), None)

    def last(self, needle: str) -> float | None:
        hits = [t for t, line in self.stderr_lines if needle in line]
        return hits[-1] if hits else None


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300.0,
    capture: bool = True,
) -> Run:
    """Run `argv` in its own process group; stderr lines are time-stamped as they arrive."""
    cpu0 = children_cpu()
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    with _LIVE_LOCK:
        _LIVE.add(proc)
    lines: list[tuple[float, str]] = []
    out: list[str] = []
    readers = []
    if capture:
        assert proc.stdout is not None and proc.stderr is not None
        err_stream, out_stream = proc.stderr, proc.stdout

        def read_err() -> None:
            for line in err_stream:
                lines.append((time.monotonic() - start, line.rstrip("\n")))

        def read_out() -> None:
            out.append(out_stream.read())

        readers = [threading.Thread(target=f, daemon=True) for f in (read_err, read_out)]
        for t in readers:
            t.start()
    # A blocking wait: Popen.wait(timeout=...) polls in steps of up to 50 ms, which would
    # round every wall time up to the next step. A timer kills the command instead.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.returncode is not None:
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            time.sleep(5.0)  # harness only: grace before SIGKILL

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:  # interrupted: never leave it running
            _kill_group(proc)
        wall = time.monotonic() - start
        for t in readers:
            t.join(timeout=5)
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    return Run(
        list(argv),
        proc.returncode,
        wall,
        "".join(out),
        lines,
        children_cpu() - cpu0,
        expired.is_set(),
    )


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """SIGTERM/SIGHUP become SystemExit so that every `finally` (testbeds, moto) runs."""

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        kill_all_children()


NOMADCTL_SRC: Path | None = None  # run.py --src: another checkout's src/ (before/after runs)


def nomadctl_argv() -> list[str]:
    """The installed console script next to this interpreter, else `python -m nomadctl`;
    with NOMADCTL_SRC set, the nomadctl found in that directory instead."""
    if NOMADCTL_SRC is not None:
        code = (
            f"import sys; sys.path.insert(0, {str(NOMADCTL_SRC)!r}); sys.argv[0] = 'nomadctl'; "
            # the package's own __main__, so the old layout (nomadctl.cli.main) runs too
            "import runpy; runpy.run_module('nomadctl', run_name='__main__')"
        )
        return [sys.executable, "-c", code]
    script = Path(sys.executable).with_name("nomadctl")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "nomadctl"]
