"""Logging configured once, to stdout, one line per event, tagged with the request id."""
from __future__ import annotations

import logging
import sys

from flask import g, has_request_context

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# Every character that can end or rewrite a line on a terminal or in journald, except the tab.
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x09), *range(0x0a, 0x20), 0x7f, 0x85]}
_ESCAPES.update({0x0a: "\\n", 0x0d: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_controls(text: str) -> str:
    """The text with control characters written out (a newline becomes the two characters \\n)."""
    return text.translate(_ESCAPES)


class EscapingFormatter(logging.Formatter):
    """One event, one line: the message's control characters are escaped; a traceback stays as it is."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


class RequestIdFilter(logging.Filter):
    """Put the current request's id (or '-') on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(f, RequestIdFilter) for h in root.handlers for f in h.filters):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(EscapingFormatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    # gunicorn's own loggers go through the same handler instead of their own.
    for name in ("gunicorn.error", "gunicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # urllib3 logs full URLs at DEBUG; those can carry tokens in query strings.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
