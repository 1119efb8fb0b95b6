"""A user's webhook statistics from the rollup tables the triggers of migration 0030 keep.

Reading never counts webhook_events: the user's delta rows are folded first (a few rows since the
last read), then a handful of totals and at most 1,440 minutes are summed; the 7 d / 30 d charts sum
at most 720 hours (migration 0150) and two days of minutes.
"""
from __future__ import annotations

from webhook_app.db import Database
from webhook_app.web.serialize import iso
from webhook_app.webhooks.events import STATUSES


def stats(db: Database, user_id: int) -> dict:
    """Counts by status, per-minute activity for the last 24 h, and the webhook's state."""
    with db.transaction() as tx:
        tx.run("compact_webhook_status_counts", user_id=user_id)
        tx.run("compact_webhook_activity_minutes", user_id=user_id)
        tx.run("prune_webhook_activity_minutes", user_id=user_id)
        counted = {row["status"]: int(row["count"])
                   for row in tx.all("webhook_status_counts_for_user", user_id=user_id)}
        minutes = tx.all("webhook_activity_last_day", user_id=user_id)
        state = tx.one("webhook_state_for_user", user_id=user_id)
    counts = {status: counted.get(status, 0) for status in STATUSES}
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "last_24h": {
            "received": sum(m["received"] for m in minutes),
            "processed": sum(m["processed"] for m in minutes),
            "failed": sum(m["failed"] for m in minutes),
        },
        # Only minutes that had activity; the chart fills the rest with zeros.
        "per_minute": [[m["minute"].isoformat(), m["received"], m["processed"], m["failed"]] for m in minutes],
        "per_minute_fields": ["minute", "received", "processed", "failed"],
        "webhook": {
            "verified": state["verified_at"] is not None,
            "verified_at": iso(state["verified_at"]),
            "last_received_at": iso(state["last_received_at"]),
            "last_processed_at": iso(state["last_processed_at"]),
            "last_error": state["last_error"],
            "last_error_at": iso(state["last_error_at"]),
        },
        "now": state["now"].isoformat(),
    }


# The ranges the dashboard's charts offer beyond the minute rollups' 24 hours: (span, bucket).
LONG_RANGES = {"7d": ("7 days", "1 hour"), "30d": ("30 days", "1 day")}


def activity(db: Database, user_id: int, range_name: str) -> dict | None:
    """Received / processed / failed per hour (7 d) or day (30 d), from the hourly and minute rollups (0150).

    As in the 24 h chart, "failed" counts failed attempts when they happened, and what was received stays
    counted after the events are pruned."""
    if range_name not in LONG_RANGES:
        return None
    span, bucket = LONG_RANGES[range_name]
    with db.transaction() as tx:
        tx.run("prune_webhook_activity_minutes", user_id=user_id)   # minutes past 48 h into the hourly rollup
        tx.run("prune_webhook_activity_hours", user_id=user_id)
        rows = tx.all("webhook_activity_by_bucket", user_id=user_id, span=span, bucket=bucket)
    return {"range": range_name, "bucket_seconds": 3600 if bucket == "1 hour" else 86400,
            "buckets": [[r["at"].isoformat(), r["received"], r["processed"], r["failed"]] for r in rows],
            "fields": ["at", "received", "processed", "failed"]}
