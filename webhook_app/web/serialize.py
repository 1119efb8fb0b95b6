"""How the API writes values: times as ISO 8601 (Flask's JSON would write them as HTTP dates)."""
from __future__ import annotations

from datetime import datetime


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def jsonable(row: dict) -> dict:
    """A row with its times as ISO 8601."""
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}
