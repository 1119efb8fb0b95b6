"""What every `python -m jobs.…` command shares: the same settings, logging to stdout, a database, a stop flag."""
from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from .config import Settings, load_settings
from .db import Database
from .logging_setup import configure_logging

log = logging.getLogger(__name__)


def job_settings(settings: Settings | None = None) -> Settings:
    """The service's own settings (environment over `.env`), with the embedded database in development."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    if not settings.database_url:
        from . import embedded_db

        settings = settings.with_overrides(database_url=embedded_db.ensure_database(settings.var_dir))
    return settings


def open_database(settings: Settings, name: str, maxconn: int = 10) -> Database:
    return Database(settings.database_url, maxconn=maxconn, application_name=f"insta-connect-{name}")


@contextmanager
def stop_on_signal() -> Iterator[threading.Event]:
    """An event set by SIGTERM / SIGINT (main thread only); the old handlers come back afterwards."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def _handler(signum, frame):
        log.warning("Stop requested (signal %s); finishing the accounts in hand", signum)
        stop.set()

    old = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
