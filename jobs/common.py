"""What every job shares: settings, logging, the database, and a stop flag set by SIGTERM."""
from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager

from webhook_app.config import Settings, load_settings_or_exit
from webhook_app.db import Database, with_database_url
from webhook_app.logging_setup import configure_logging

log = logging.getLogger(__name__)


def job_settings() -> Settings:
    """Settings with a database URL (the embedded server's when DATABASE_URL is unset); exit 2 if broken."""
    settings = load_settings_or_exit()
    configure_logging(settings.log_level)
    return with_database_url(settings)


def open_database(settings: Settings, name: str, maxconn: int = 10) -> Database:
    """The job's own pool, named `insta-connect-<name>` in pg_stat_activity."""
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
