"""Pytest fixtures for the test network (see tests/testbed/__init__.py).

``testbed_factory(n, delay_ms=0, subnet=None, first_host=4, overlays=())`` makes a Testbed
of ``n`` real SSH hosts and tears it down after the test, even when the test fails.
``subnet=None`` picks a free 198.18.N.0/24 so parallel runs do not collide; a fixed
``subnet`` that another live testbed holds (another pytest-xdist worker) is waited for.
``testbed_factory_module`` is the same with module scope. Missing prerequisites FAIL the
test (pytest.fail), they never skip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.testbed.core import (
    DEFAULT_FIRST_HOST,
    Testbed,
    TestbedError,
    check_prerequisites,
    subnet_held_by_testbed,
    subnet_is_free,
    sweep_stale,
)

TestbedFactory = Callable[..., Testbed]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove testbeds of an earlier run that crashed (owner process dead), nothing else."""
    if os.geteuid() != 0:
        return
    try:
        removed = sweep_stale()
        msg = f"removed stale testbeds of a crashed run: {', '.join(removed)}" if removed else ""
    except Exception as exc:  # never break the session over a sweep
        msg = f"sweeping stale testbeds failed: {exc}"
    if msg:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"testbed: {msg}")
        else:
            print(f"testbed: {msg}")


# How long a test waits for a fixed subnet (e.g. 198.18.1.0/24 of
# tests/providers/aws/test_lifecycle.py, where moto puts its private IPs) that another
# testbed holds: with pytest-xdist another worker (or another test run on the machine) may be
# using it. Longer than any one test.
SUBNET_WAIT = 600.0


def _create_waiting(n: int, *, subnet: str | None, **kw: Any) -> Testbed:
    """Testbed.create, but a fixed ``subnet`` held by another live testbed is waited for
    (poll with backoff) instead of failing at once; any other conflict fails as before."""
    deadline = time.monotonic() + SUBNET_WAIT
    delay = 0.2
    while True:
        try:
            return Testbed.create(n, subnet=subnet, **kw)
        except TestbedError as exc:
            # Held by a live testbed, or freed by it since Testbed.create looked: try again.
            held = (
                subnet is not None
                and "already routed" in str(exc)
                and (subnet_held_by_testbed(subnet) or subnet_is_free(subnet))
            )
            if not held or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 3.0)


def _factory() -> Iterator[TestbedFactory]:
    made: list[Testbed] = []

    def make(
        n: int = 3,
        *,
        delay_ms: int | Sequence[int] = 0,
        subnet: str | None = None,
        first_host: int = DEFAULT_FIRST_HOST,
        overlays: Sequence[str] = (),
        addresses: Sequence[str] = (),
    ) -> Testbed:
        try:
            check_prerequisites()
            tb = _create_waiting(
                n,
                subnet=subnet,
                first_host=first_host,
                delay_ms=delay_ms,
                overlays=overlays,
                addresses=addresses,
            )
        except TestbedError as exc:
            pytest.fail(str(exc), pytrace=False)
        made.append(tb)
        return tb

    try:
        yield make
    finally:
        errors = []
        for tb in reversed(made):
            try:
                tb.teardown()
            except Exception as exc:
                errors.append(f"{tb!r}: {exc}")
        if errors:
            pytest.fail("testbed teardown failed: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def testbed_factory() -> Iterator[TestbedFactory]:
    """Function-scoped factory: ``tb = testbed_factory(6, delay_ms=0, subnet=None)``."""
    yield from _factory()


@pytest.fixture(scope="module")
def testbed_factory_module() -> Iterator[TestbedFactory]:
    """Module-scoped factory, for a testbed shared by the tests of one module."""
    yield from _factory()
