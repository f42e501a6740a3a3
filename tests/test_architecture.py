"""The house rules of src/nomadctl/ (docs/architecture.md), checked so that CI fails when one
breaks: the import-linter contracts in pyproject.toml (floors, independent providers, no
terminal libraries below cli/), no import circle between two modules, imports inside
functions only where they keep a heavy library out of `--help`, a docstring on every module
and package, and the size limits."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "nomadctl"
# Third-party libraries that cost `--help` (and `up --local`) real time to import: a module
# that loads one at import time may be imported inside a function (benchmarks/cli_start.py).
HEAVY = ("boto3", "botocore", "paramiko", "cryptography", "nomad", "requests", "urllib3")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.with_suffix("").relative_to(SRC).parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def test_the_rules_read_this_checkout() -> None:
    """grimp and lint-imports find `nomadctl` on the path: it must be this tree's src/, not
    another installed copy (pyproject.toml's pytest `pythonpath` puts src/ first)."""
    import nomadctl

    assert Path(nomadctl.__file__).resolve().is_relative_to(PACKAGE)


def test_import_linter_contracts_are_kept() -> None:
    """`lint-imports` with the contracts of pyproject.toml, as a developer runs it."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command as c; c()",
            "--no-cache",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)])},  # this tree
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 kept, 0 broken" in proc.stdout


def test_the_contracts_would_catch_an_upward_import(tmp_path: Path) -> None:
    """The layers contract is live: the same graph plus one import from cluster/ up into
    plan/ breaks it (so a KEPT above is not a contract that checks nothing)."""
    graph = grimp.build_graph("nomadctl")
    graph.add_import(importer="nomadctl.cluster.status", imported="nomadctl.plan.core")
    layers = [
        "nomadctl.cli",
        "nomadctl.plan",
        "nomadctl.providers",
        "nomadctl.node",
        "nomadctl.cluster",
        "nomadctl.pki",
    ]
    found = graph.find_illegal_dependencies_for_layers(layers=layers)
    assert any(d.importer == "nomadctl.cluster" and d.imported == "nomadctl.plan" for d in found)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_two_modules() -> None:
    """Every import counts, at the top, inside functions or under TYPE_CHECKING."""
    graph = grimp.build_graph("nomadctl")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def _function_imports(tree: ast.AST) -> Iterator[ast.ImportFrom | ast.Import]:
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom | ast.Import):
                    yield node


def _loads_heavy(name: str, mods: dict[str, Path], seen: set[str]) -> bool:
    """Does importing `name` load a heavy library (through its module-level imports)?"""
    if name in seen or name not in mods:
        return False
    seen.add(name)
    for node in ast.parse(mods[name].read_text()).body:
        if isinstance(node, ast.If):  # TYPE_CHECKING blocks run for type checkers only
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for imported in names:
            if imported.split(".")[0] in HEAVY or _loads_heavy(imported, mods, seen):
                return True
    return False


def test_imports_inside_functions_only_keep_heavy_libraries_lazy() -> None:
    """Below cli/ a function imports one of nomadctl's own modules only when that module
    loads a heavy third-party library (boto3, paramiko, cryptography, python-nomad): never to
    hide an upward import, which the layers contract sees anyway. cli/ imports the library
    inside its commands, so `--help` loads none of it."""
    mods = modules()
    wrong = []
    for name, path in mods.items():
        if name == "nomadctl.cli" or name.startswith("nomadctl.cli."):
            continue
        for node in _function_imports(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "nomadctl"
            ):
                continue
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                for a in node.names
            ]
            if not any(_loads_heavy(t, mods, set()) for t in targets if t):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    assert wrong == []


def test_every_module_says_what_it_is_for() -> None:
    """A docstring on every module; a package's says what lives there and what it may import."""
    missing, thin = [], []
    for name, path in modules().items():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        if path.name == "__main__.py":
            continue
        if not doc or not doc.strip():
            missing.append(name)
        elif path.name == "__init__.py" and name != "nomadctl" and "import" not in doc.lower():
            thin.append(name)
    assert missing == []
    assert thin == [], "package docstrings must say what the package may import"


@pytest.mark.parametrize("limit", [MAX_MODULE_LINES])
def test_no_module_over_the_limit(limit: int) -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules().values()
        if (n := len(p.read_text().splitlines())) > limit
    }
    assert long == {}


def test_no_function_body_over_the_limit() -> None:
    long = []
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    first = node.body[1] if len(node.body) > 1 else first  # after the docstring
                lines = (node.end_lineno or 0) - first.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {lines}")
    assert long == []


def test_terminal_libraries_stay_in_cli() -> None:
    """The forbidden contract, read once more from the source: typer, click and rich are
    imported only under cli/ (so the library returns facts and the commands choose words)."""
    wrong = []
    for name, path in modules().items():
        if name.startswith("nomadctl.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(n.split(".")[0] in ("typer", "click", "rich") for n in names):
                wrong.append(f"{name}:{node.lineno}")
    assert wrong == []
