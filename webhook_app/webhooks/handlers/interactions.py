"""What every handler shares: the checks on Meta's fields, Meta's times, and the activity log.

The activity log (`interactions`) keeps what is not a message in a conversation: story insights,
template and account updates, Page posts. Messages go to webhook_app/conversations.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from webhook_app.db import Transaction
from webhook_app.webhooks.event_queue import PermanentFailure


class MalformedEvent(PermanentFailure):
    """The payload lacks what its handler needs (Meta's id): it can never succeed, so it is not retried."""


def require(mapping, key: str, what: str):
    """mapping[key] as text, or MalformedEvent naming what is missing."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if value in (None, "") or isinstance(value, (dict, list)):
        raise MalformedEvent(f"{what} has no {key}")
    return str(value)


def text_of(mapping, key: str) -> str | None:
    """mapping[key] when it is text (Meta's optional fields may be missing or of another shape)."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, str) and value != "" else None


def dict_of(mapping, key: str) -> dict:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, dict) else {}


def list_of(mapping, key: str) -> list:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, list) else []


def id_of(mapping, key: str) -> str | None:
    """The `id` of mapping[key] ({"id": ...}), as text."""
    party = dict_of(mapping, key)
    return str(party["id"]) if party.get("id") not in (None, "") else None


def value_of(change: dict) -> dict:
    value = change.get("value")
    if not isinstance(value, dict):
        raise MalformedEvent(f"the {change.get('field')} change has no value object")
    return value


def timestamp(raw) -> datetime | None:
    """Meta's times: epoch milliseconds (messaging), epoch seconds (WhatsApp, feed) or ISO text."""
    if raw in (None, "") or isinstance(raw, bool):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(str(raw).replace("Z", "+00:00").replace("+0000", "+00:00"))
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    if number > 10**11:  # milliseconds
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def when(*raws) -> datetime:
    """The first of Meta's times that parses; now when none does (a message needs a place in its thread)."""
    for raw in raws:
        found = timestamp(raw)
        if found is not None:
            return found
    return datetime.now(timezone.utc)


def record(tx: Transaction, event, *, platform: str, kind: str, external_id: str, data: dict, refresh: bool = False,
           account_id=None, sender_id=None, recipient_id=None, text=None, status=None, occurred_at=None) -> None:
    """Write one activity row for the event's owner, keyed by (platform, kind, Meta's id)."""
    tx.run(
           "record_interaction_latest" if refresh else "record_interaction",
           user_id=event.user_id, platform=platform, kind=kind, external_id=external_id,
           account_id=account_id or event.entry_id, sender_id=sender_id, recipient_id=recipient_id,
           text=text, status=status, occurred_at=occurred_at, event_id=event.id, data=json.dumps(data),
       )
