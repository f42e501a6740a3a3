"""Shared pytest configuration. Fixtures live next to the parts they build."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.testbed.fixtures", "tests.aws.fixtures"]


def _in_accept(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "accept" and frame.f_code.co_filename.endswith("socket.py"):
            return True
        frame = frame.f_back
    return False


@pytest.fixture(autouse=True)
def no_accepting_thread_left() -> Iterator[None]:
    """A test's own listeners are stopped, not only closed, by the time it ends.

    A thread left blocked in accept() outlives its socket and, when the call is restarted
    after a signal, accepts on whatever socket has taken the descriptor number since: a later
    test's server (tests/test_security_api.Listener.close says how that failed CI). Session
    and module servers started before the test are not counted."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while True:
        left = [t for t in threading.enumerate() if t not in before and _in_accept(t)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"threads still in accept() after the test: {[t.name for t in left]}"
