"""The one boundary where request input is checked: ids, numbers, times, text filters and JSON bodies.

Each parser returns a value the database accepts or raises BadParameter, which every route answers
with 400 and the message. Python is more generous than PostgreSQL (`int()` reads Arabic-Indic and
other Unicode digits, `str.isdigit()` is true for "²", `fromisoformat` takes offsets up to ±23:59,
strings may hold NUL), so what passes here is what the database can store or compare with.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from flask import Flask, request
from werkzeug.routing import IntegerConverter, ValidationError

BIGINT_MAX = 2**63 - 1
MAX_TEXT = 500
# PostgreSQL's timestamptz takes UTC offsets up to 15:59 either way.
MAX_OFFSET = timedelta(hours=15, minutes=59)
_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class BadParameter(ValueError):
    """A query parameter, form field or JSON body that cannot be used; the message says which and why."""


def database_id(value: str | None) -> int | None:
    """A positive bigint written in ASCII digits, else None (the caller answers 404: no such object)."""
    if not value or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= BIGINT_MAX else None


def whole_number(name: str, value: str | None, *, default: int, minimum: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    if not _DIGITS.fullmatch(value.strip()):
        raise BadParameter(f"'{name}' must be a whole number written in digits 0-9.")
    number = int(value.strip())
    if not minimum <= number <= maximum:
        raise BadParameter(f"'{name}' must be between {minimum} and {maximum}.")
    return number


def text(name: str, value, *, max_length: int = MAX_TEXT) -> str | None:
    """A text filter: stripped, None when empty; no control characters (NUL included), not too long."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadParameter(f"'{name}' must be text.")
    value = value.strip()
    if _CONTROL.search(value):
        raise BadParameter(f"'{name}' must not contain control characters.")
    if len(value) > max_length:
        raise BadParameter(f"'{name}' must be at most {max_length} characters.")
    return value or None


def aware_time(name: str, when: datetime) -> datetime:
    """A time PostgreSQL can store: UTC when no zone is given, an offset within ±15:59."""
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    offset = when.utcoffset()
    if offset is None or abs(offset) > MAX_OFFSET:
        raise BadParameter(f"'{name}' has a time-zone offset beyond ±15:59.")
    try:
        when.astimezone(timezone.utc)
    except OverflowError:
        raise BadParameter(f"'{name}' is out of range.") from None
    return when


def json_object(*, required: bool = False) -> dict:
    """The request's JSON body when it is an object; {} when there is none (unless required)."""
    if not request.is_json or not request.get_data(cache=True):
        if required:
            raise BadParameter("Send a JSON object as the request body.")
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadParameter("The request body must be a JSON object.")
    return body


def form_or_json() -> dict:
    """A browser form, or the same fields as a JSON object."""
    return json_object() if request.is_json else request.form


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in routes: ASCII digits only, within bigint; anything else matches no route (404).

    werkzeug's own regex is `\\d+`, which in Python matches every Unicode digit, and its range is
    unbounded, so "/events/١٢" or a 30-digit id reached the database and came back as a 500.
    """

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = database_id(value)
        if number is None:
            raise ValidationError()
        return number


def init_app(app: Flask) -> None:
    """Use the bounded converter for every `<int:>` route; call before any blueprint is registered."""
    app.url_map.converters["int"] = DatabaseIdConverter
