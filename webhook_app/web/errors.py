"""One set of error handlers: JSON for API callers, HTML for browsers, never a traceback."""
from __future__ import annotations

import logging
import math
import re
import time

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from webhook_app.exceptions import DatabaseUnavailable, InvalidData
from webhook_app.web.extensions import limiter
from webhook_app.web.params import BadParameter

log = logging.getLogger(__name__)


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, headers=None, title: str | None = None):
    if wants_json():
        response = jsonify(error=message)
    else:
        response = render_template("error.html", status=status, message=message, title=title)
    return response, status, headers or {}


def wait_phrase(seconds: int) -> str:
    """'30 seconds', '1 minute', '2 minutes': how long a refused caller waits, in words."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _http_error(exc: HTTPException):
    headers = dict(exc.get_headers()) if exc.code in (405, 429) else {}
    headers.pop("Content-Type", None)
    message = exc.description or exc.name
    if exc.code == 429:
        seconds = _retry_after()
        if seconds is None and isinstance(getattr(exc, "retry_after", None), int):
            seconds = exc.retry_after  # the failed-login limit (auth/login_limit.py) says it on the exception
        if seconds:
            headers.setdefault("Retry-After", str(seconds))
        wait = f"in {wait_phrase(seconds)}" if seconds else "later"
        message = f"Too many requests: at most {_plural_limit(exc.description)}. Try again {wait}."
        return error_response(429, message, headers, title="Too many attempts")
    return error_response(exc.code or 500, message, headers)


def _plural_limit(text: str) -> str:
    """Flask-Limiter's "5 per 15 minute" as a person writes it: "5 per 15 minutes"."""
    return re.sub(r"per (\d+) ([a-z]+?)s?$", lambda m: f"per {m[1]} {m[2]}{'' if m[1] == '1' else 's'}", text or "")


def _retry_after() -> int | None:
    """Seconds until the limit that refused this request resets (Flask-Limiter knows; the exception does not)."""
    current = limiter.current_limit
    if current is None:
        return None
    return max(1, math.ceil(current.reset_at - time.time()))


def _csrf_error(exc: CSRFError):
    return error_response(400, f"The form's security token is missing or expired ({exc.description}). "
                               "Reload the page and try again.")


def _bad_parameter(exc: BadParameter):
    return error_response(400, str(exc))


def _invalid_data(exc: InvalidData):
    # A value the boundary (web/params.py) let through but PostgreSQL refuses: still the caller's input.
    log.warning("database refused a value from the request: %s", exc)
    return error_response(400, "The request holds a value that cannot be stored or searched for.")


def _database_down(exc: DatabaseUnavailable):
    log.error("database unavailable: %s", exc)
    return error_response(ServiceUnavailable.code, "The database is unavailable; try again shortly.",
                          {"Retry-After": "5"})


def _unexpected(exc: Exception):
    log.exception("unhandled error")
    return error_response(InternalServerError.code, "Something went wrong on our side.")


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DatabaseUnavailable, _database_down)
    app.register_error_handler(BadParameter, _bad_parameter)
    app.register_error_handler(InvalidData, _invalid_data)
    app.register_error_handler(Exception, _unexpected)
