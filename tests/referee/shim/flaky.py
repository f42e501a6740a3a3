"""Stand-in for the `flaky` package, which upstream's test_job.py imports: no retries.

Every test gets one run, which is stricter than flaky's `max_runs`.
"""

from collections.abc import Callable
from typing import Any


def flaky(max_runs: int | None = None, min_passes: int | None = None) -> Callable[[Any], Any]:
    return lambda test: test
