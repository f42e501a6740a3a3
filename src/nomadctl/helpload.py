"""Load Typer's help renderer without the two modules nomadctl's help never uses.

`typer.rich_utils` (imported by Typer only when it formats help) imports `rich.markdown`
(markdown-it and pygments underneath) and `rich.traceback` at module level, for help written
in Markdown (nomadctl's uses rich markup) and for pretty tracebacks (switched off, they could
print secrets). Together they are about half of `nomadctl --help`'s run time
(docs/benchmarks.md). `load()` imports `typer.rich_utils` with those two names standing in
for the real classes: a stand-in class imports its real module on first use, and the stand-in
modules are taken out of `sys.modules` again right away, so any later `import rich.markdown`
gets the real module. If a Typer version wants more from these modules than the two names,
the ordinary import is used instead. The help text is byte for byte what Typer prints.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# module -> names `typer.rich_utils` imports from it (Typer 0.15 .. 0.25)
DEFERRED: dict[str, tuple[str, ...]] = {
    "rich.markdown": ("Markdown",),
    "rich.traceback": ("Traceback",),
}


class _Deferred(type):
    """Metaclass of a stand-in class whose real class is imported on first real use."""

    def real(cls) -> Any:
        module = sys.modules.get(cls.__module__)
        if module is not None and getattr(module, "__nomadctl_stand_in__", False):
            raise ImportError(f"{cls.__module__}.{cls.__name__} used while being deferred")
        return getattr(importlib.import_module(cls.__module__), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls.real(), name)

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls.real())

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls.real())


def load() -> None:
    """Import `typer.rich_utils` (once) without importing `DEFERRED`'s modules."""
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins: dict[str, types.ModuleType] = {}
    for name, attrs in DEFERRED.items():
        if name in sys.modules:
            continue
        module = types.ModuleType(name)
        module.__nomadctl_stand_in__ = True  # type: ignore[attr-defined]
        for attr in attrs:
            setattr(module, attr, _Deferred(attr, (), {"__module__": name}))
        stand_ins[name] = module
    sys.modules.update(stand_ins)
    try:
        import typer.rich_utils
    except ImportError:
        pass  # a Typer that needs more than the stand-ins: ordinary import below
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    import typer.rich_utils  # noqa: F401
