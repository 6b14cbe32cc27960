"""``_timestamps``: the one ISO-8601 parser and formatter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_rtk._core.timestamps import format_api_time, parse_api_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-05T10:00:00.000Z", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T10:00:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T11:00:00+01:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("not a time", None),
        (None, None),
        (1700000000, None),
    ],
)
def test_parse_api_time(value, expected):
    assert parse_api_time(value) == expected
    if expected is not None:
        assert parse_api_time(value).tzinfo is not None


def test_format_api_time():
    assert format_api_time(datetime(2026, 1, 5, 10, 0, 0, 123456)) == "2026-01-05T10:00:00.123Z"
    east = datetime(2026, 1, 5, 12, tzinfo=timezone(timedelta(hours=2)))
    assert format_api_time(east) == "2026-01-05T10:00:00.000Z"
    assert parse_api_time(format_api_time(east)) == east
