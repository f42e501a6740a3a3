"""Shared pytest configuration. Fixtures live next to the parts they build."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


def _names_data_under(argv: bytes, mark: bytes) -> bool:
    """Does a command line name, under `mark`, something other than a program? A module's
    cluster rolled onto a binary a test made (tests/cli/test_snapshot.py) runs that binary
    from the test's tmp_path for the rest of the module: that is not the test's process,
    whereas one with its config, data or state there is."""
    for arg in argv.split(b"\0"):
        if mark in arg and not (os.path.isfile(arg) and os.access(arg, os.X_OK)):
            return True
    return False


def _processes_under(path: Path) -> dict[int, str]:
    """Processes (not this one) whose command line names data under `path`."""
    mark, found = os.fsencode(str(path)), {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if _names_data_under(argv, mark):
            found[int(entry.name)] = argv.replace(b"\0", b" ").decode(errors="replace")[:200]
    return found


@pytest.fixture(autouse=True)
def no_process_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Nothing a test started from its own tmp_path (a stand-in agent, a host daemon) runs on
    after it: its fixtures' teardown (`down`, a testbed's stop) ran before this one's. A leak is
    killed here, so it cannot hold ports or CPU in later tests, and the test fails, since a
    cleanup that leaks when the test fails (a `down` whose final snapshot is refused) is a
    defect of the fixture. Module and session fixtures' processes live elsewhere."""
    if "tmp_path" not in request.fixturenames:
        yield
        return
    tmp = request.getfixturevalue("tmp_path")
    yield
    deadline = time.monotonic() + 3  # a `down` may still be reaping what it stopped
    while (left := _processes_under(tmp)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes outlived the test (now killed): {sorted(left.values())}"
