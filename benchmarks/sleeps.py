""" "No fixed sleeps on the critical path": every `sleep` call in src/, and every pause on a
cancel event (`cancel.wait(delay)`, a sleep that Ctrl-C can end), with the loop it is in,
whether that loop is bounded by a deadline and whether the pause grows (backoff).

A call is reported, never judged by a timer; docs/benchmarks.md says what each one waits for.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT


def _is_sleep(call: ast.Call) -> bool:
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr == "wait" and call.args:
        receiver = ast.unparse(f.value)
        return "cancel" in receiver or "stop" in receiver
    return (isinstance(f, ast.Attribute) and f.attr == "sleep") or (
        isinstance(f, ast.Name) and f.id == "sleep"
    )


def _grows(loop: ast.AST, arg: ast.expr) -> bool:
    """Is a name used in the sleep's argument multiplied inside the loop (x = min(x * k, c))?"""
    names = {n.id for n in ast.walk(arg) if isinstance(n, ast.Name)}
    for node in ast.walk(loop):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Mult):
            targets, value = [node.target], node.value
        if value is None or not any(isinstance(t, ast.Name) and t.id in names for t in targets):
            continue
        if isinstance(node, ast.AugAssign) or any(
            isinstance(b, ast.BinOp) and isinstance(b.op, ast.Mult) for b in ast.walk(value)
        ):
            return True
    return False


def _bounded(func: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Name) and n.id in ("deadline", "timeout", "wait") for n in ast.walk(func)
    )


def scan(src: Path | None = None) -> list[dict[str, Any]]:
    src = src or ROOT / "src"
    found = []
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _is_sleep(node)):
                continue
            loop = func = None
            up = parents.get(node)
            while up is not None:
                if loop is None and isinstance(up, ast.While | ast.For):
                    loop = up
                if isinstance(up, ast.FunctionDef | ast.AsyncFunctionDef):
                    func = up
                    break
                up = parents.get(up)
            arg = node.args[0] if node.args else None
            found.append(
                {
                    "where": f"{path.relative_to(ROOT)}:{node.lineno}",
                    "function": func.name if func else "<module>",
                    "call": ast.unparse(node),
                    "in_loop": loop is not None,
                    "constant": isinstance(arg, ast.Constant),
                    "backoff": bool(loop is not None and arg is not None and _grows(loop, arg)),
                    "bounded": bool(func is not None and _bounded(func)),
                }
            )
    return found
