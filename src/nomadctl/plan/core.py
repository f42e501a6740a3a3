"""The records of a plan: named steps, what each will do, and how they ran."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nomadctl.providers.base import ProviderPlan

Progress = Callable[[str], None]


class Trouble(str):
    """An outcome that says the step did not do its job (some hosts failed, no leader was
    waited for): the step ran to its end, but shows as failed (✗), not done."""


@dataclass
class Step:
    """One named step: what it will do (shown before anything runs) and how it went."""

    name: str
    detail: str
    action: Callable[[Progress], str | None] | None = None  # returns the outcome line
    skipped: str = ""  # why it will not run ("--skip-configure", "no change")
    outcome: str = ""
    seconds: float | None = None
    status: str = "planned"  # planned | skipped | done | failed (raised, or a Trouble)

    def run(self, progress: Progress) -> None:
        if self.skipped or self.action is None:
            self.status, self.outcome = "skipped", self.skipped or "nothing to do"
            return
        start = time.monotonic()
        try:
            self.outcome = self.action(progress) or "done"
        except BaseException:
            self.status = "failed"
            raise
        finally:
            self.seconds = round(time.monotonic() - start, 2)
        self.status = "failed" if isinstance(self.outcome, Trouble) else "done"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "detail": self.detail,
            "status": self.status,
            "skipped": self.skipped or None,
            "outcome": self.outcome or None,
            "seconds": self.seconds,
        }


@dataclass
class Plan:
    """Everything `up` (or `down`) will do, read once before anything changes."""

    command: str  # "up" | "down"
    cluster: str
    provider: ProviderPlan
    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # preflight findings (dry-run lists them)
    dry_run: bool = False
    kept: dict[str, Any] = field(default_factory=dict)  # settings as the last `up` had them

    @property
    def warnings(self) -> list[str]:
        return self.provider.warnings

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def run(self, progress_for: Callable[[Step], Any]) -> None:
        """Run every step in order; `progress_for(step)` gives a context manager yielding
        that step's progress callable (a spinner on a terminal)."""
        for step in self.steps:
            if step.skipped or step.action is None:
                step.run(lambda _m: None)
                continue
            with progress_for(step) as progress:
                step.run(progress)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "cluster": self.cluster,
            "dry_run": self.dry_run,
            **self.provider.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "problems": list(self.problems),
            "kept": dict(self.kept),
        }
