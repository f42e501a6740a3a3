"""Issue 28 point 10: every third-party package `src/` imports is a declared dependency
(`requests` was used directly but came only through python-nomad and boto3). Failed on the
main of 2026-12-07 (b311992)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "nomadctl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"nomadctl"}


def test_every_imported_package_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-")
        for d in project["dependencies"]
    }
    dists = metadata.packages_distributions()
    missing = {}
    for name in sorted(imported_top_levels()):
        owners = {d.lower().replace("_", "-") for d in dists.get(name, [name])}
        if not owners & declared:
            missing[name] = sorted(owners)
    assert not missing, f"imported but not in [project] dependencies: {missing}"
