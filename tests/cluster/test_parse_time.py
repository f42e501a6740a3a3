"""Times from Nomad's API (Go's `time.Time` in JSON: RFC 3339 with up to nanoseconds and a
zone) read right: every "stable since" and "long enough" check of the roll leans on them."""

from datetime import UTC, datetime

import pytest

from nomadctl.cluster.operations import _parse_time

EIGHT_OCLOCK_UTC = datetime(2026, 12, 7, 8, 0, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-07T10:00:30.123456789+02:00", EIGHT_OCLOCK_UTC + 0.123456),
        ("2026-12-07T10:00:30+02:00", EIGHT_OCLOCK_UTC),
        ("2026-12-07T08:00:30Z", EIGHT_OCLOCK_UTC),
        ("2026-12-07T08:00:30.5Z", EIGHT_OCLOCK_UTC + 0.5),
        ("2026-12-07T03:00:30.999999999-05:00", EIGHT_OCLOCK_UTC + 0.999999),
    ],
)
def test_nanoseconds_and_offsets(text: str, expected: float) -> None:
    assert _parse_time(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "text", [None, "", "0001-01-01T00:00:00Z", "yesterday", "2026-12-07T08:00:30"]
)
def test_zero_and_unreadable_times_are_none(text: str | None) -> None:
    assert _parse_time(text) is None
