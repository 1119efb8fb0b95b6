"""Retention (SPEC 8): processed events past the retention period go, in bounded batches; unfinished ones never."""
from __future__ import annotations

from webhook_app.db import Database

BATCH = 5000  # rows per transaction: short locks, bounded WAL per commit


def _in_batches(db: Database, name: str, batch: int, **params) -> int:
    total = 0
    while True:
        deleted = db.run(name, limit=batch, **params)
        total += deleted
        if deleted < batch:
            return total


def prune(db: Database, days: int, batch: int = BATCH) -> dict[str, int]:
    """Delete processed events older than `days`, then deliveries left without events; return the counts."""
    return {
        "events": _in_batches(db, "prune_processed_webhook_events", batch, days=days),
        "deliveries": _in_batches(db, "prune_old_webhook_deliveries", batch, days=days),
    }
