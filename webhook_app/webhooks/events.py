"""A user's webhook events as the dashboard sees them: list, detail, retry, delete, bulk retry."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webhook_app.db import Database
from webhook_app.web.listing import BadListRequest, decode_cursor, page
from webhook_app.webhooks import event_queue as queue

STATUSES = ("pending", "processing", "processed", "failed", "dead_letter")
RETRYABLE = ("failed", "dead_letter")


class NotRetryable(ValueError):
    """The event exists but is not failed or dead-letter."""


@dataclass(frozen=True)
class EventFilter:
    status: str | None = None
    object: str | None = None
    field: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self):
        if self.status is not None and self.status not in STATUSES:
            raise BadListRequest(f"'status' must be one of {', '.join(STATUSES)}.")

    def params(self) -> dict:
        return {"status": self.status, "object": self.object, "field": self.field,
                "since": self.since, "until": self.until}


def list_events(db: Database, user_id: int, filters: EventFilter, before: str | None,
                limit: int) -> tuple[list[dict], str | None]:
    """One page of the user's events, newest first, and the cursor of the next page."""
    before_at, before_id = decode_cursor(before)
    rows = db.all("list_user_webhook_events", user_id=user_id, before_at=before_at, before_id=before_id,
                  limit=limit + 1, **filters.params())
    return page(rows, limit, "received_at")


def get_event(db: Database, user_id: int, event_id: int) -> dict | None:
    return db.one("get_user_webhook_event", user_id=user_id, event_id=event_id)


def retry_event(db: Database, user_id: int, event_id: int) -> dict | None:
    """Put a failed or dead-letter event back in the queue; None if the user has no such event."""
    event = get_event(db, user_id, event_id)
    if event is None:
        return None
    if not queue.retry(db, event_id, user_id):
        raise NotRetryable(f"Only failed or dead-letter events can be retried; this one is {event['status']}.")
    return get_event(db, user_id, event_id)


def retry_matching(db: Database, user_id: int, filters: EventFilter) -> int:
    """Put every failed or dead-letter event matching the filter back in the queue; how many."""
    if filters.status is not None and filters.status not in RETRYABLE:
        raise NotRetryable("Only failed or dead-letter events can be retried.")
    return db.one("retry_user_webhook_events_matching", user_id=user_id, **filters.params())["retried"]


def delete_event(db: Database, user_id: int, event_id: int) -> bool:
    return db.one("delete_user_webhook_event", user_id=user_id, event_id=event_id) is not None
