"""Log lines escape control characters, so a request cannot forge a line (SPEC 14)."""
import pytest
import requests

from tests.support.live import Gunicorn, app_env


@pytest.mark.slow  # a gunicorn process, logging to a file as journald would read it
def test_a_newline_in_the_path_cannot_forge_a_log_line(settings, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    server = Gunicorn(app_env(settings), workers=1, log_path=log_path)
    try:
        forged = "/nothing%0a2026-01-01 00:00:00,000 INFO webhook_app.auth user 1 logged in%0d%1b[2J"
        assert requests.get(server.url + forged, timeout=10).status_code == 404
    finally:
        server.stop()
    lines = log_path.read_text().splitlines()
    assert not any(line.startswith("2026-01-01 00:00:00,000") for line in lines)
    [line] = [line for line in lines if "GET /nothing" in line]
    assert "\\n2026-01-01 00:00:00,000 INFO webhook_app.auth user 1 logged in\\r\\x1b[2J 404" in line


def test_escaping_keeps_ordinary_text_and_tracebacks():
    import io
    import logging

    from webhook_app.logging_setup import FORMAT, EscapingFormatter, RequestIdFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("test.escaping")
    log.addHandler(handler)
    try:
        log.warning("café\ttab %s", "a\nb\u2028c")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "café\ttab a\\nb\\u2028c\n" in out
    assert "failed\nTraceback (most recent call last):\n" in out  # the traceback stays readable
