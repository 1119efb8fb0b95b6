"""What the live stream (web/stream.py) needs to know about webhook events: arrivals, and changes to announce.

Two channels feed it. `webhook_events` is the intake's own wake-up for the processors (sent at
commit, only while a processor or an open stream has recorded a nap, and by retry/replay); its payload names no user, so the stream asks
`arrivals` which owners the new ids belong to. `live_updates` carries a JSON payload naming the
users it concerns, {"what": "events", "users": [1, 2]}; the processor sends it after each batch
commits (never inside the intake's commit: a NOTIFY there serializes commits). Other areas may
send their own `what` (e.g. "conversations") the same way; the stream forwards it as the event name.
"""
from __future__ import annotations

import json
import logging
from typing import Iterable

from webhook_app.db import Database
from webhook_app.exceptions import DatabaseError
from webhook_app.webhooks import event_queue

log = logging.getLogger(__name__)

ARRIVALS_CHANNEL = "webhook_events"
UPDATES_CHANNEL = "live_updates"
MAX_PAYLOAD_USERS = 500  # NOTIFY payloads stop at 8,000 bytes; more users than this are sent in several


def watch_arrivals(db: Database, watcher: str, seconds: float) -> None:
    """Have the intake NOTIFY `webhook_events` after its commits for the next `seconds`.

    The intake notifies only while a processor naps (SPEC 18: no NOTIFY in the delivery's commit,
    none at all while every processor is busy); an open stream registers itself the same way.
    """
    event_queue.nap(db, watcher, seconds)


def newest_event_id(db: Database) -> int:
    return db.one("newest_webhook_event_id")["id"]


def arrivals(db: Database, after_id: int) -> tuple[dict[int, dict], int]:
    """Events stored after `after_id`: {user_id: {"last_id", "count"}}, and the highest id seen."""
    per_user, highest = {}, after_id
    for row in db.all("webhook_arrivals_since", after_id=after_id):
        highest = max(highest, row["last_id"])
        if row["user_id"] is not None:
            per_user[row["user_id"]] = {"last_id": row["last_id"], "count": row["count"]}
    return per_user, highest


def missed_since(db: Database, user_id: int, after_id: int) -> bool:
    return db.one("user_has_webhook_events_after", user_id=user_id, after_id=after_id)["missed"]


def announce(db: Database, what: str, user_ids: Iterable[int | None]) -> None:
    """Tell open streams these users' `what` changed; a lost announcement only delays a page to its next poll."""
    users = sorted({u for u in user_ids if u is not None})
    for start in range(0, len(users), MAX_PAYLOAD_USERS):
        payload = json.dumps({"what": what, "users": users[start:start + MAX_PAYLOAD_USERS]})
        try:
            db.one("announce_webhook_changes", payload=payload)
        except DatabaseError as exc:
            log.warning("could not announce %s changes: %s", what, exc)
            return
