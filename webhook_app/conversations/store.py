"""The write side of conversations, in the handler's transaction: messages, reactions, edits, deletions, statuses.

Everything is keyed by Meta's own ids and written so that a redelivered or reordered webhook
changes nothing more: a message id stored once is never stored again, a reaction or an edit older
than the one shown is ignored, a status only moves a message forward.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from webhook_app.db import Transaction

INBOUND, OUTBOUND = "inbound", "outbound"


@dataclass
class Message:
    """One message as a person reads it, ready to be stored in its conversation."""

    user_id: int
    channel: str                 # instagram, messenger, whatsapp
    account_id: str              # our side: Instagram account, Page or phone number id
    contact_key: str             # their side: IGSID, PSID, wa_id ('' when Meta names nobody)
    external_id: str             # Meta's id of the message
    direction: str
    kind: str
    occurred_at: datetime
    sender_id: str | None = None
    text: str | None = None
    content: dict = field(default_factory=dict)
    thread: str = "direct"       # direct, comments, mentions
    thread_key: str = ""         # the media or post of a comment thread
    contact_name: str | None = None
    contact_username: str | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    event_id: int | None = None


def record(tx: Transaction, message: Message) -> bool:
    """Store a message in its conversation; False when Meta's id was stored before."""
    params = {**message.__dict__, "content": json.dumps(message.content)}
    return tx.one("record_message", **params) is not None


def react(tx: Transaction, user_id: int, channel: str, target: str, reactor: str, emoji: str | None,
          at: datetime, reaction: str | None = None) -> bool:
    """Set (emoji) or clear (None) one person's reaction on a stored message; False if it is not stored."""
    value = json.dumps({"emoji": emoji or None, "reaction": reaction, "at": at.isoformat()})
    return tx.one("react_to_message", user_id=user_id, channel=channel, target=target, reactor=reactor,
                  reaction=value, at=at)["found"]


def edit(tx: Transaction, user_id: int, channel: str, target: str, text: str | None, at: datetime) -> bool:
    """Show a stored message's new text, keeping the old one; False if it is not stored."""
    return tx.one("edit_message", user_id=user_id, channel=channel, target=target, text=text, at=at)["found"]


def delete(tx: Transaction, user_id: int, channel: str, target: str, at: datetime) -> bool:
    """Mark a stored message deleted; False if it is not stored."""
    return tx.one("delete_message", user_id=user_id, channel=channel, target=target, at=at)["found"]


def record_status(tx: Transaction, *, user_id: int, channel: str, external_id: str, status: str,
                  at: datetime | None, recipient_id: str | None = None, error: dict | None = None,
                  pricing: dict | None = None, callback_data: str | None = None, event_id: int | None = None) -> None:
    """Keep a status of one of our messages and move the message to it (if stored and not further along)."""
    tx.run("record_message_status", user_id=user_id, channel=channel, external_id=external_id, status=status,
           at=at, recipient_id=recipient_id, error=json.dumps(error) if error else None,
           pricing=json.dumps(pricing) if pricing else None, callback_data=callback_data, event_id=event_id)


def receipt(tx: Transaction, *, user_id: int, channel: str, account_id: str, contact_key: str, status: str,
            at: datetime | None, mids: list[str], watermark: datetime | None) -> int:
    """A contact read (or received) our messages up to a message or a time; returns how many moved."""
    return tx.run("apply_receipt", user_id=user_id, channel=channel, account_id=account_id,
                  contact_key=contact_key, status=status, at=at, mids=mids, watermark=watermark)
