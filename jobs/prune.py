"""Retention (SPEC 8): delete processed webhook events past the retention period, in bounded batches.

    python -m jobs.prune

Pending, failed and dead-letter events are never deleted. Deliveries go once their events are
gone and they are past the period too. Expired sessions and rate-limit counters are purged.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from jobs.common import job_settings, open_database
from webhook_app.background_jobs import store as background_jobs
from webhook_app.config import Settings
from webhook_app.db import Database
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.web import ratelimit_storage, sessions
from webhook_app.webhooks import retention
from webhook_app.webhooks.retention import BATCH

log = logging.getLogger("jobs.prune")


def prune(db: Database, settings: Settings, batch: int = BATCH) -> dict[str, int]:
    """Delete what is past retention; return how many rows of each kind went."""
    return {
        **retention.prune(db, settings.webhook_retention_days, batch),
        "sessions": sessions.delete_expired(db),
        "rate_limit_counters": ratelimit_storage.purge_expired(db),
        "background_jobs": background_jobs.prune(db),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.prune", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=BATCH, help=f"rows per transaction (default {BATCH})")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be positive")
    settings = job_settings()
    db = open_database(settings, "prune", maxconn=1)
    started = time.monotonic()
    try:
        done = prune(db, settings, args.batch_size)
    except DatabaseUnavailable as exc:
        log.error("database unavailable: %s", exc)
        return 1
    finally:
        db.close()
    log.info("prune finished (retention %d days): %s in %.2fs", settings.webhook_retention_days,
             " ".join(f"{k}={v}" for k, v in done.items()), time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
