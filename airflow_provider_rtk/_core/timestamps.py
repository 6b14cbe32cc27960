"""The API's timestamps: ISO 8601 in UTC, parsed and formatted in one place."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_api_time(value: object) -> datetime | None:
    """An ISO-8601 timestamp (``Z`` or offset; naive means UTC) as an aware datetime, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_api_time(value: datetime) -> str:
    """``value`` (naive means UTC) as the API writes times: UTC, milliseconds, ``Z``."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
