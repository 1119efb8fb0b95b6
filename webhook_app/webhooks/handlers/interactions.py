"""The inbox write every handler shares, and the checks on Meta's fields it needs."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from webhook_app.db import Transaction


class MalformedEvent(ValueError):
    """The payload lacks what its handler needs (usually Meta's id); the event fails."""


def require(mapping, key: str, what: str):
    """mapping[key] as text, or MalformedEvent naming what is missing."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if value in (None, ""):
        raise MalformedEvent(f"{what} has no {key}")
    return str(value)


def value_of(change: dict) -> dict:
    value = change.get("value")
    if not isinstance(value, dict):
        raise MalformedEvent(f"the {change.get('field')} change has no value object")
    return value


def timestamp(raw) -> datetime | None:
    """Meta's times: epoch milliseconds (messaging), epoch seconds (WhatsApp, feed) or ISO text."""
    if raw in (None, ""):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(raw).replace("Z", "+00:00").replace("+0000", "+00:00"))
        except ValueError:
            return None
    if number > 10**11:  # milliseconds
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def record(tx: Transaction, event, *, platform: str, kind: str, external_id: str, data: dict, refresh: bool = False,
           account_id=None, sender_id=None, recipient_id=None, text=None, status=None, occurred_at=None) -> None:
    """Write one inbox row for the event's owner, keyed by (platform, kind, Meta's id)."""
    tx.run(
           "record_interaction_latest" if refresh else "record_interaction",
           user_id=event.user_id, platform=platform, kind=kind, external_id=external_id,
           account_id=account_id or event.entry_id, sender_id=sender_id, recipient_id=recipient_id,
           text=text, status=status, occurred_at=occurred_at, event_id=event.id, data=json.dumps(data),
       )
