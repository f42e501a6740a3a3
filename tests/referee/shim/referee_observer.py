"""A pytest plugin for the vendored run: a test that touched an endpoint the stand-in does not
serve fails, whatever it asserted.

The stand-in answers an unknown route with 404 "Invalid URL" (405 "Invalid method" for a known
path), so an upstream test that expects a 404 could otherwise pass without reaching anything.
The plugin only looks: it records each response python-nomad's requests session gets and
changes none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests.adapters

NOT_SERVED = ((404, "Invalid URL"), (405, "Invalid method"))
_misses: list[str] = []
_send = requests.adapters.HTTPAdapter.send


def _observed_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
    response = _send(self, request, *args, **kwargs)
    if not kwargs.get("stream") and (response.status_code, response.text) in NOT_SERVED:
        _misses.append(f"{request.method} {request.path_url}")
    return response


requests.adapters.HTTPAdapter.send = _observed_send


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    if call.when == "setup":
        _misses.clear()
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and _misses and report.passed:
        report.outcome = "failed"
        report.longrepr = "passed on endpoints the stand-in does not serve: " + ", ".join(_misses)
