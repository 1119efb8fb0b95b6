"""The background-jobs worker loop: run queued jobs as they come, woken by NOTIFY, until a stop is requested."""
from __future__ import annotations

import logging
import threading

from webhook_app.background_jobs import store
from webhook_app.db import Database
from webhook_app.db.listen import Notifications
from webhook_app.exceptions import DatabaseError

log = logging.getLogger(__name__)


def follow(db: Database, handlers: dict[str, store.Handler], stop: threading.Event, poll_seconds: float,
           listen_dsn: str | None = None) -> None:
    """Run due jobs on each NOTIFY and every `poll_seconds`, until `stop` is set (LISTEN on listen_dsn, or db's)."""
    notifications = Notifications(listen_dsn or db.dsn, store.CHANNEL, stop, "insta-connect-jobs", retry_pause=poll_seconds)
    try:
        # The first wait connects and LISTENs before anything is looked at, so a job queued in
        # between still wakes us; then run what is due on each NOTIFY or poll interval.
        while notifications.wait(poll_seconds) or not stop.is_set():
            try:
                store.run_due(db, handlers, stop)
            except DatabaseError as exc:
                log.error("database problem in the jobs worker (%s); retrying", exc)
                stop.wait(poll_seconds)
            except Exception:  # noqa: BLE001 - the worker must outlive a bad job run
                log.exception("jobs worker loop failed; continuing")
                stop.wait(poll_seconds)
    finally:
        notifications.close()
