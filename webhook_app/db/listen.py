"""LISTEN as an alarm clock for the workers: wake on a NOTIFY, or when the poll interval is up."""
from __future__ import annotations

import logging
import re
import select
import threading
import time

import psycopg2

log = logging.getLogger(__name__)
_CHANNEL = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Listener:
    """A LISTEN connection on several channels that hands back what was sent: [(channel, payload)].

    `receive(timeout)` returns the notifications that arrived (waiting up to `timeout` for the
    first), [] when time is up, or None right after each (re)connection: what was committed while
    nobody listened was never announced, so the caller catches up by looking.
    """

    def __init__(self, dsn: str, channels: tuple[str, ...], stop: threading.Event, application_name: str,
                 retry_pause: float = 2.0):
        for channel in channels:
            if not _CHANNEL.match(channel):
                raise ValueError(f"not a channel name: {channel!r}")
        self.dsn = dsn
        self.listen_sql = "; ".join(f"LISTEN {channel}" for channel in channels)  # our constants, checked above
        self.stop = stop
        self.application_name = application_name
        self.retry_pause = retry_pause
        self._conn = None

    def receive(self, timeout: float) -> list[tuple[str, str]] | None:
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            try:
                if self._conn is None:
                    self._conn = psycopg2.connect(self.dsn, connect_timeout=5, application_name=self.application_name)
                    self._conn.autocommit = True
                    self._conn.cursor().execute(self.listen_sql)
                    return None
                left = deadline - time.monotonic()
                # Looked at even when time is up, so receive(0) collects what is already waiting.
                if select.select([self._conn], [], [], max(0.0, min(0.5, left)))[0]:
                    self._conn.poll()
                if self._conn.notifies:
                    got = [(n.channel, n.payload) for n in self._conn.notifies]
                    self._conn.notifies.clear()
                    return got
                if left <= 0:
                    return []
            except psycopg2.Error as exc:
                log.error("LISTEN connection lost (%s); reconnecting", str(exc).strip())
                self.close()
                self.stop.wait(self.retry_pause)
        return []

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class Notifications(Listener):
    """A LISTEN connection on one channel as an alarm clock: wait() returns True on a NOTIFY, False when time is up.

    It connects on the first wait() and again after losing the connection (pausing `retry_pause`
    between tries); each (re)connection answers True at once, because anything committed while
    nobody listened was never announced. A set `stop` ends any wait within half a second.
    """

    def __init__(self, dsn: str, channel: str, stop: threading.Event, application_name: str,
                 retry_pause: float = 2.0):
        super().__init__(dsn, (channel,), stop, application_name, retry_pause)

    def wait(self, timeout: float) -> bool:
        got = self.receive(timeout)
        return got is None or bool(got)
