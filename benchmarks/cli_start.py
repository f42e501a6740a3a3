"""Part 1, CLI start: `nomadctl --help` and `nomadctl status --help` against
`python -c "import typer"`, run interleaved so machine noise hits all of them alike; the
modules `--help` imports (`python -X importtime`), with the heavy ones that must not appear.

Reference rows: `python -c pass`, and what Typer's rich help would cost (nomadctl prints
Click's plain help, src/nomadctl/cli/helpformat.py): a two-command Typer app's `--help`, and
importing Typer plus only the rich modules Typer's rich help renderer needs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Budget, log, nomadctl_argv, run, summary

HEAVY = ("boto3", "botocore", "paramiko", "cryptography", "nomad", "requests")
NOT_FOR_HELP = ("rich", "markdown_it", "pygments")  # rich prints results, never help
RICH_FOR_HELP = (
    "rich.console, rich.table, rich.panel, rich.columns, rich.align, rich.padding, "
    "rich.theme, rich.highlighter, rich.emoji, rich.box, rich.markup, rich.text"
)
TYPER_HELLO = '''import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""


@app.command()
def bye(name: str = "world") -> None:
    """Say bye."""


app()
'''


def child_env() -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "COLUMNS": "100",
        "LANG": "C.UTF-8",
    }
    if os.environ.get("PYTHONPATH"):  # a worktree's src/ (every command gets the same path)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def commands(tmp: Path, compare: Path | None = None) -> dict[str, list[str]]:
    hello = tmp / "typer_hello.py"
    hello.write_text(TYPER_HELLO)
    nomadctl = nomadctl_argv()
    py = sys.executable
    cmds = {
        "import typer": [py, "-c", "import typer"],
        "nomadctl --help": [*nomadctl, "--help"],
        "nomadctl status --help": [*nomadctl, "status", "--help"],
        "ref: python -c pass": [py, "-c", "pass"],
        "ref: import typer + rich help modules": [py, "-c", f"import typer, {RICH_FOR_HELP}"],
        "ref: 2-command Typer app --help": [py, str(hello), "--help"],
    }
    if compare is not None:  # another checkout's src/, e.g. an older commit's
        run_other = (
            f"import sys; sys.path.insert(0, {str(compare)!r}); sys.argv[0] = 'nomadctl'; "
            # the package's own __main__, so the old layout (nomadctl.cli.main) runs too
            "import runpy; runpy.run_module('nomadctl', run_name='__main__')"
        )
        for args in (["--help"], ["status", "--help"]):
            cmds[f"{compare}: nomadctl {' '.join(args)}"] = [py, "-c", run_other, *args]
    return cmds


def imported_modules(argv: list[str], env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """`python -X importtime -m nomadctl ARGV`: one row per module, in import order."""
    proc = run(
        [sys.executable, "-X", "importtime", "-m", "nomadctl", *argv], env=env, cwd=cwd, timeout=60
    )
    rows = []
    for _, line in proc.stderr_lines:
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        self_us, cumulative_us = parts[0].split(":")[1].strip(), parts[1].strip()
        if not (self_us.isdigit() and cumulative_us.isdigit()):
            continue  # the header line
        name = parts[2][1:]
        rows.append(
            {
                "module": name.strip(),
                "depth": (len(name) - len(name.lstrip())) // 2,
                "self_us": int(self_us),
                "cumulative_us": int(cumulative_us),
            }
        )
    return rows


def measure(budget: Budget, runs: int, compare: Path | None = None) -> dict[str, Any]:
    budget.need(30, "CLI start")
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="nomadctl-bench-cli-") as tmp_s:
        tmp = Path(tmp_s)
        cmds = commands(tmp, compare)
        # Warm-up, with bytecode caching allowed: measure an installed package, not a compile.
        for argv in cmds.values():
            run(argv, env=env, cwd=tmp, timeout=60, capture=False)
        walls: dict[str, list[float]] = {k: [] for k in cmds}
        cpus: dict[str, list[float]] = {k: [] for k in cmds}
        for i in range(runs):
            for name, argv in cmds.items():
                r = run(argv, env=env, cwd=tmp, timeout=budget.timeout(60), capture=False)
                if r.returncode != 0:
                    raise RuntimeError(f"{name} failed with {r.returncode}")
                walls[name].append(r.wall)
                cpus[name].append(r.cpu)
            log(f"CLI start: round {i + 1}/{runs} done")
        results = {
            name: {"argv": argv, "wall": summary(walls[name]), "cpu": summary(cpus[name])}
            for name, argv in cmds.items()
        }
        base = results["import typer"]["wall"]["median"]
        for name in results:
            results[name]["ratio_to_import_typer"] = results[name]["wall"]["median"] / base
        imports = {}
        for label, argv in (("--help", ["--help"]), ("status --help", ["status", "--help"])):
            rows = imported_modules(argv, env, tmp)
            names = {r["module"] for r in rows}
            tops = sorted(
                (r for r in rows if r["depth"] == 0),
                key=lambda r: r["cumulative_us"],
                reverse=True,
            )
            imports[label] = {
                "modules": len(rows),
                "heavy_found": sorted(
                    {n for n in names if n.split(".")[0] in HEAVY}, key=str.lower
                ),
                "rich_found": sorted(n for n in names if n.split(".")[0] in NOT_FOR_HELP),
                "top_level": [
                    {"module": r["module"], "cumulative_ms": r["cumulative_us"] / 1000}
                    for r in tops[:12]
                ],
            }
    return {"runs": runs, "commands": results, "imports": imports}
