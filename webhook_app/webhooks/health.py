"""Webhook health (SPEC 6): is Meta reaching us for this user, and is the processing keeping up."""
from __future__ import annotations

from datetime import datetime, timezone

from webhook_app.db import Database
from webhook_app.message_templates import catalog
from webhook_app.web.serialize import iso
from webhook_app.webhooks import adoption

NEVER = datetime.min.replace(tzinfo=timezone.utc)


def report(db: Database, user_id: int) -> dict:
    """Verified, last delivery received and processed, failures in the last hour, template sync state."""
    app_row = db.one("app_webhook_verification") or {}
    mine = db.one("user_webhook_health", user_id=user_id) or {}
    hour = db.one("user_webhook_last_hour", user_id=user_id)
    failure = db.one("user_webhook_last_failure", user_id=user_id)
    templates = catalog.sync_status(db, user_id)
    late = adoption.adopted_count(db, user_id)
    unowned = db.one("unowned_webhook_events_summary")
    errors = [(mine.get("last_error_at"), mine.get("last_error"))]
    if failure:
        errors.append((failure["updated_at"], failure["message"] or f"event {failure['id']} failed"))
    errors = sorted((e for e in errors if e[1]), key=lambda e: e[0] or NEVER, reverse=True)
    received = hour["received"]
    return {
        "verified": app_row.get("verified_at") is not None,
        "verified_at": iso(app_row.get("verified_at")),
        # From the events themselves: no counter row is written per delivery or per batch (SPEC 18).
        "last_received_at": iso(mine.get("newest_event_at")),
        "last_processed_at": iso(mine.get("newest_processed_at")),
        "last_hour": {"received": received, "failed": hour["failed"],
                      "failure_rate": round(hour["failed"] / received, 4) if received else 0.0},
        "last_error": errors[0][1] if errors else None,
        "last_error_at": iso(errors[0][0]) if errors else None,
        # Events Meta sent before their account was connected here: kept, then handed over and processed.
        "arrived_before_connect": {"count": late["count"], "last_received_at": iso(late["last_received_at"]),
                                   "last_handed_over_at": iso(late["last_adopted_at"])},
        # Deliveries no connected account owns yet (SPEC 7), across the service: counts only, never whose ids.
        "unknown_owner": {"count": unowned["count"], "ids": unowned["ids"],
                          "last_received_at": iso(unowned["last_received_at"]), "by_object": unowned["by_object"]},
        "templates": {k: templates[k] for k in ("approved", "total", "last_synced_at", "last_error", "last_error_at",
                                                "running")},
    }
