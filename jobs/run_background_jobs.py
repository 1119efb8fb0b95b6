"""`python -m jobs.run_background_jobs`: the background-jobs worker (the template sync after a connect, ...).

Woken by LISTEN/NOTIFY within milliseconds of the commit that queued a job, polling every
JOBS_POLL_SECONDS as a fallback; SIGTERM finishes the job in hand and exits.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading

from jobs.common import job_settings, open_database, stop_on_signals
from webhook_app.accounts import graph
from webhook_app.background_jobs import worker
from webhook_app.config import Settings
from webhook_app.conversations import profiles
from webhook_app.db import Database
from webhook_app.message_templates import sync as templates_sync
from webhook_app.timed_jobs import runs as timed_job_runs
from webhook_app.tokens.vault import from_settings as vault_from_settings

log = logging.getLogger("jobs.run_background_jobs")


def job_handlers(db: Database, settings: Settings) -> dict:
    """Every kind of background job this worker runs."""
    vault = vault_from_settings(settings)
    client = graph.meta_client(settings)
    return {templates_sync.JOB_KIND: lambda payload: templates_sync.run_job(db, vault, client, payload),
            timed_job_runs.JOB_KIND: timed_job_runs.run_job,
            profiles.JOB_KIND: lambda payload: profiles.run_job(db, vault, client, payload)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.run_background_jobs", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    settings = job_settings()
    db = open_database(settings, "jobs", maxconn=2)
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            log.info("jobs worker started (poll every %.1fs)", settings.jobs_poll_seconds)
            worker.follow(db, job_handlers(db, settings), stop, settings.jobs_poll_seconds,
                          listen_dsn=settings.listen_url)
        log.info("jobs worker stopped")
        return 0
    finally:
        db.close()


if __name__ == "__main__":
    sys.exit(main())
