"""`python -m jobs.sync_templates`: sync every WhatsApp account's message templates (the hourly timer).

`--follow` runs the queued background jobs instead (e.g. the template sync queued when a WhatsApp
account connects): woken by LISTEN/NOTIFY within milliseconds of the commit, polling every
JOBS_POLL_SECONDS as a fallback; SIGTERM finishes the job in hand and exits.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading

import psycopg2

from jobs.common import Notifications, job_settings, stop_on_signals
from webhook_app.background_jobs import store as background_jobs
from webhook_app.accounts import graph
from webhook_app.message_templates import sync as templates_sync
from webhook_app.config import Settings
from webhook_app.db.pool import Database
from webhook_app.tokens.vault import from_settings as vault_from_settings

log = logging.getLogger("jobs.sync_templates")
JOB_RETENTION_DAYS = 7


def job_handlers(db: Database, settings: Settings) -> dict:
    """Every kind of background job this worker runs."""
    vault = vault_from_settings(settings)
    client = graph.meta_client(settings)
    return {templates_sync.JOB_KIND: lambda payload: templates_sync.run_job(db, vault, client, payload)}


def sync_all(db: Database, settings: Settings) -> int:
    """One pass over every WhatsApp account; exit code 1 when any account failed."""
    results = templates_sync.sync_user(db, vault_from_settings(settings), graph.meta_client(settings), None)
    db.run("prune_jobs", days=JOB_RETENTION_DAYS)
    failed = [r for r in results if not r.ok]
    log.info("template sync: %d accounts, %d failed, %d templates", len(results), len(failed),
             sum(r.templates for r in results))
    return 1 if failed else 0


def follow(db: Database, settings: Settings, stop: threading.Event) -> None:
    """Run queued jobs as they come until a stop is requested."""
    handlers = job_handlers(db, settings)
    notifications = Notifications(db.dsn, background_jobs.LISTEN, stop, "insta-connect-jobs",
                                  retry_pause=settings.jobs_poll_seconds)
    try:
        # The first wait connects and LISTENs before anything is looked at, so a job queued in
        # between still wakes us; then run what is due on each NOTIFY or poll interval.
        while notifications.wait(settings.jobs_poll_seconds) or not stop.is_set():
            try:
                background_jobs.run_due(db, handlers, stop)
            except psycopg2.Error as exc:
                log.error("database problem in the jobs worker (%s); retrying", str(exc).strip())
                stop.wait(settings.jobs_poll_seconds)
            except Exception:  # noqa: BLE001 - the worker must outlive a bad job run
                log.exception("jobs worker loop failed; continuing")
                stop.wait(settings.jobs_poll_seconds)
    finally:
        notifications.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.sync_templates", description=__doc__.splitlines()[0])
    parser.add_argument("--follow", action="store_true", help="run queued background jobs until SIGTERM")
    args = parser.parse_args(argv)
    settings = job_settings()
    db = Database(settings.database_url, maxconn=2, application_name="insta-connect-jobs")
    try:
        if not args.follow:
            return sync_all(db, settings)
        stop = threading.Event()
        with stop_on_signals(stop):
            log.info("jobs worker started (poll every %.1fs)", settings.jobs_poll_seconds)
            follow(db, settings, stop)
        log.info("jobs worker stopped")
        return 0
    finally:
        db.close()


if __name__ == "__main__":
    sys.exit(main())
