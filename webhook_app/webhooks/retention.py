"""Retention (SPEC 8, 18): whole weekly partitions of webhook_events dropped once past the retention period.

Dropping a week costs the same whatever it holds: no row-by-row delete, WAL, triggers or vacuum.
Unfinished events (pending, processing, failed, dead_letter) are never dropped: they move into the
default partition first, and go from there in bounded batches once processed and past the period.
The job also makes the partitions of the weeks ahead, so the intake always has one to write to.
"""
from __future__ import annotations

import logging

from webhook_app.db import Database
from webhook_app.exceptions import DatabaseError, DatabaseUnavailable

log = logging.getLogger(__name__)

BATCH = 5000  # rows per transaction in the default partition: short locks, bounded WAL per commit
WEEKS_AHEAD = 4  # partitions made ahead of now: a month of prune runs may be missed before any event lands in the default


def _in_batches(db: Database, name: str, batch: int, counted: bool = False, **params) -> int:
    """Run a bounded delete until it deletes fewer than `batch` (its rowcount, or its `deleted` if `counted`)."""
    total = 0
    while True:
        deleted = db.one(name, limit=batch, **params)["deleted"] if counted else db.run(name, limit=batch, **params)
        total += deleted
        if deleted < batch:
            return total


def make_partitions_ahead(db: Database, weeks: int = WEEKS_AHEAD) -> list[str]:
    """Make the weekly partitions of this week and the next `weeks` where missing; return their names."""
    return [row["name"] for row in db.all("create_webhook_event_partitions_ahead", weeks=weeks)]


def drop_expired_partitions(db: Database, days: int) -> dict[str, int]:
    """Drop every week entirely older than `days`, keeping its unfinished events; return what went and stayed.

    Two steps, so only a catalog change waits for (and holds) the table's strongest lock: detach the
    week, then move its unfinished events into the default partition and drop it. A week detached
    by a run that stopped in between is finished by the next.
    """
    done = {"partitions": 0, "partition_events": 0, "kept_unfinished": 0}
    for row in db.all("expired_webhook_event_partitions", days=days):
        try:
            with db.transaction() as tx:
                tx.one("set_partition_drop_lock_timeout")
                tx.one("detach_webhook_event_partition", partition=row["name"], days=days)
        except DatabaseUnavailable:
            raise
        except DatabaseError as exc:  # e.g. the lock was not granted in time: the next run tries again
            log.warning("kept partition %s for now: %s", row["name"], exc)
    for row in db.all("detached_webhook_event_partitions"):
        result = db.one("drop_detached_webhook_event_partition", partition=row["name"])
        done["partitions"] += 1
        done["partition_events"] += result["dropped"]
        done["kept_unfinished"] += result["kept"]
        log.info("dropped partition %s: %d events (%d unfinished kept)", row["name"], result["dropped"],
                 result["kept"])
    return done


def prune(db: Database, days: int, batch: int = BATCH) -> dict[str, int]:
    """Drop expired weeks, delete old processed events left in the default partition and deliveries left without events."""
    make_partitions_ahead(db)
    dropped = drop_expired_partitions(db, days)
    return {
        "events": _in_batches(db, "prune_processed_webhook_events", batch, counted=True, days=days),
        "deliveries": _in_batches(db, "prune_old_webhook_deliveries", batch, days=days),
        **dropped,
    }
