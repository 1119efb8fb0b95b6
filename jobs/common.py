"""What every job shares: settings, logging, the database, and a stop flag set by SIGTERM."""
from __future__ import annotations

import logging
import select
import signal
import threading
import time
from contextlib import contextmanager

import psycopg2

from webhook_app.db import embedded as embedded_db
from webhook_app.config import Settings, load_settings_or_exit
from webhook_app.db.pool import Database
from webhook_app.logging_setup import configure_logging

log = logging.getLogger(__name__)


def job_settings() -> Settings:
    """Settings with a database URL (the embedded server's when DATABASE_URL is unset); exit 2 if broken."""
    settings = load_settings_or_exit()
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


class Notifications:
    """A LISTEN connection as an alarm clock: wait() returns True on a NOTIFY, False when time is up.

    It connects on the first wait() and again after losing the connection (pausing `retry_pause`
    between tries); each (re)connection answers True at once, because anything committed while
    nobody listened was never announced. A set `stop` ends any wait within half a second.
    """

    def __init__(self, dsn: str, listen_sql: str, stop: threading.Event, application_name: str,
                 retry_pause: float = 2.0):
        self.dsn = dsn
        self.listen_sql = listen_sql  # a constant LISTEN statement: it cannot take parameters
        self.stop = stop
        self.application_name = application_name
        self.retry_pause = retry_pause
        self._conn = None

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            try:
                if self._conn is None:
                    self._conn = psycopg2.connect(self.dsn, connect_timeout=5, application_name=self.application_name)
                    self._conn.autocommit = True
                    self._conn.cursor().execute(self.listen_sql)
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if select.select([self._conn], [], [], min(0.5, left))[0]:
                    self._conn.poll()
                    if self._conn.notifies:
                        self._conn.notifies.clear()
                        return True
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                log.error("LISTEN connection lost (%s); polling until it is back", str(exc).strip())
                self.close()
                self.stop.wait(self.retry_pause)
        return False

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
