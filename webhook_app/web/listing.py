"""Keyset pages for the dashboard's lists: opaque cursors, limits and time filters from query strings."""
from __future__ import annotations

import base64
from datetime import datetime

from webhook_app.web.params import BadParameter, aware_time, database_id, whole_number

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class BadListRequest(BadParameter):
    """A cursor, limit or time in the query string cannot be used; the message says which."""


def encode_cursor(at: datetime, row_id: int) -> str:
    """The position just after a row, as a string the client hands back unchanged."""
    raw = f"{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime | None, int | None]:
    if not cursor:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.split("|")
        when = datetime.fromisoformat(at)
        number = database_id(row_id)
        if when.tzinfo is None or number is None:
            raise ValueError("naive time or no id")
        return aware_time("before", when), number
    except (ValueError, UnicodeDecodeError):
        raise BadListRequest("The 'before' cursor is not one this server gave out.") from None


def parse_limit(value: str | None) -> int:
    try:
        return whole_number("limit", value, default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    except BadParameter as exc:
        raise BadListRequest(str(exc)) from None


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time; without a zone it is taken as UTC."""
    if value in (None, ""):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        try:  # an unencoded "+01:00" arrives as " 01:00": a query string's "+" is a space
            when = datetime.fromisoformat(value.strip().replace(" ", "+"))
        except ValueError:
            raise BadListRequest(f"'{name}' must be an ISO 8601 time, e.g. 2025-01-31T12:00:00Z.") from None
    try:
        return aware_time(name, when)
    except BadParameter as exc:
        raise BadListRequest(str(exc)) from None


def page(rows: list[dict], limit: int, sort_key: str) -> tuple[list[dict], str | None]:
    """Split limit+1 fetched rows into the page and the cursor of the next one (None at the end)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(last[sort_key], last["id"])
