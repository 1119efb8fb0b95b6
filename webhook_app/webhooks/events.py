"""A user's webhook events as the dashboard sees them: list, search, detail, retry, replay, delete, bulk actions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webhook_app.db import Database
from webhook_app.web.listing import BadListRequest, decode_cursor, page
from webhook_app.webhooks import event_queue as queue

STATUSES = ("pending", "processing", "processed", "failed", "dead_letter")
RETRYABLE = ("failed", "dead_letter")
MAX_TEXT = 200
MAX_BULK = 500
BULK_ACTIONS = ("retry", "replay", "delete")


class NotRetryable(ValueError):
    """The event exists but is not failed or dead-letter."""


@dataclass(frozen=True)
class EventFilter:
    status: str | None = None
    object: str | None = None
    field: str | None = None
    account: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self):
        if self.status is not None and self.status not in STATUSES:
            raise BadListRequest(f"'status' must be one of {', '.join(STATUSES)}.")
        for name in ("object", "field", "account", "q"):
            value = getattr(self, name)
            if value is not None and (len(value) > MAX_TEXT or "\x00" in value):
                raise BadListRequest(f"'{name}' must be at most {MAX_TEXT} characters of text.")

    def params(self) -> dict:
        return {"status": self.status, "object": self.object, "field": self.field, "account": self.account,
                "q": self.q, "since": self.since, "until": self.until}


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


def choices(db: Database, user_id: int) -> dict[str, list[dict]]:
    """The objects, fields and accounts the user's events hold (the filters offer these), busiest first."""
    found: dict[str, list[dict]] = {"object": [], "field": [], "account": []}
    for row in db.all("user_webhook_event_choices", user_id=user_id):
        found[row["kind"]].append({"value": row["value"], "count": row["count"]})
    return {"objects": found["object"], "fields": found["field"], "accounts": found["account"]}


def replay_event(db: Database, user_id: int, event_id: int) -> dict | None:
    """Run one event again whatever its outcome; None if the user has no such event."""
    event = get_event(db, user_id, event_id)
    if event is None:
        return None
    if not db.one("replay_user_webhook_events", user_id=user_id, ids=[event_id], retryable_only=False)["ids"]:
        raise NotRetryable("A worker is handling this event right now; replay it once it is done.")
    return get_event(db, user_id, event_id)


def bulk(db: Database, user_id: int, action: str, ids: list[int]) -> dict:
    """Retry, replay or delete a selection of the user's events; which ids it changed and which it left."""
    if action not in BULK_ACTIONS:
        raise BadListRequest(f"'action' must be one of {', '.join(BULK_ACTIONS)}.")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_BULK or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63
                                                  for i in ids):
        raise BadListRequest(f"'ids' must be a list of 1 to {MAX_BULK} event ids.")
    if action == "delete":
        done = sorted(r["id"] for r in db.all("delete_user_webhook_events", user_id=user_id, ids=ids))
    else:
        done = db.one("replay_user_webhook_events", user_id=user_id, ids=ids,
                      retryable_only=action == "retry")["ids"]
    return {"action": action, "done": done, "skipped": sorted(set(ids) - set(done))}


def delete_event(db: Database, user_id: int, event_id: int) -> bool:
    return db.one("delete_user_webhook_event", user_id=user_id, event_id=event_id) is not None
