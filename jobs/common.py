"""What every job shares: settings, logging, the database, and a stop flag set by SIGTERM."""
from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import contextmanager

from webhook_app import embedded_db
from webhook_app.config import ConfigError, Settings, load_settings
from webhook_app.db import Database
from webhook_app.logging_setup import configure_logging

log = logging.getLogger(__name__)


def job_settings() -> Settings:
    """Settings with a database URL (the embedded server's when DATABASE_URL is unset); exit 2 if broken."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    configure_logging(settings.log_level)
    if not settings.database_url:
        settings = settings.with_overrides(database_url=embedded_db.ensure_database(settings.var_dir))
    return settings


def open_database(settings: Settings, name: str, maxconn: int = 10) -> Database:
    return Database(settings.database_url, maxconn=maxconn, application_name=f"insta-connect-{name}")


@contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGTERM and SIGINT set `stop`; the previous handlers are put back afterwards (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _request_stop(signum, frame):
        log.info("Stop requested (%s): finishing the work in hand", signal.Signals(signum).name)
        stop.set()

    old = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
