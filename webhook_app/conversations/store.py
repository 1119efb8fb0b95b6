"""The write side of conversations, in the handler's transaction: messages, reactions, edits, deletions, statuses.

Everything is keyed by Meta's own ids and written so that a redelivered or reordered webhook
changes nothing more: a message id stored once is never stored again, a reaction or an edit older
than the one shown is ignored, a status only moves a message forward.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from webhook_app.conversations import profiles
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


PENDING, STORED = "conversations", "conversations.stored"
STATUSES, RECEIPTS = "conversations.statuses", "conversations.receipts"
CHANGES = "conversations.changes"   # reactions, edits, deletions: (query, row, what to store if not found)
BUFFERS = (PENDING, STORED, STATUSES, RECEIPTS, CHANGES)


def lock_users(tx: Transaction, user_ids) -> None:
    """Hold these users' conversations until the transaction ends (one worker at a time writes them).

    Two workers' batches share contacts, conversations and messages; taking this lock before any of a
    batch's writes, in user order, is what keeps them from ever waiting on each other in a circle (a deadlock).
    """
    for user_id in sorted(user_ids):
        tx.one("lock_user_conversations", user_id=user_id)


def record(tx: Transaction, message: Message) -> None:
    """Gather a message for its conversation; `finish` stores the gathered ones (Meta's ids stored before: nothing)."""
    tx.pending.setdefault(PENDING, []).append(message)


def _row(n: int, m: Message) -> dict:
    return {**m.__dict__, "n": n, "occurred_at": m.occurred_at.isoformat(),
            "edited_at": m.edited_at.isoformat() if m.edited_at else None,
            "deleted_at": m.deleted_at.isoformat() if m.deleted_at else None}


def _flush_statements(tx: Transaction) -> list[tuple[str, dict]]:
    """Store the gathered messages' new contacts (one statement, run here: new Instagram and Messenger contacts
    queue a profile look-up); return the two statements that store their new conversations and the messages.

    Existing contacts and conversations are not locked here: `finish` moves them forward once, at the
    end of the batch, in id order. Two workers thus never hold each other's rows while waiting for more.
    """
    messages = tx.pending.pop(PENDING, None)
    if not messages:
        return []
    messages.sort(key=lambda m: (m.user_id, m.channel, m.account_id, m.thread, m.contact_key, m.thread_key))
    rows = [_row(n, m) for n, m in enumerate(messages)]
    threads = _latest_per_thread(rows)
    tx.pending.setdefault(STORED, []).extend(threads)
    threads_json = json.dumps(threads, ensure_ascii=False)
    new_contacts = tx.all("insert_contacts", rows=threads_json)
    if any(c["channel"] in ("instagram", "messenger") for c in new_contacts):
        profiles.queue(tx)  # their names come from the profile API, in the background
    return [("insert_conversations", {"rows": threads_json}),
            ("insert_messages", {"rows": json.dumps(rows, ensure_ascii=False)})]


def _latest_per_thread(rows: list[dict]) -> list[dict]:
    """Per conversation, its newest message and its newest inbound one (all that contacts and threads need),
    the contact's name and username taken from the newest message that has them."""
    latest: dict[tuple, dict] = {}
    names: dict[tuple, dict] = {}
    for row in rows:
        key = (row["user_id"], row["channel"], row["account_id"], row["thread"], row["contact_key"], row["thread_key"])
        for which in ("any", row["direction"]):
            if which == "outbound":
                continue
            current = latest.get(key + (which,))
            if current is None or row["occurred_at"] >= current["occurred_at"]:
                latest[key + (which,)] = row
        for column in ("contact_name", "contact_username"):
            if row[column] is not None:
                names.setdefault(key, {})[column] = row[column]
    out = []
    for key, row in latest.items():
        known = names.get(key[:-1], {})
        out.append({k: row[k] for k in ("n", "user_id", "channel", "thread", "account_id", "contact_key",
                                        "thread_key", "direction", "occurred_at")}
                   | {"contact_name": known.get("contact_name"), "contact_username": known.get("contact_username")})
    return out


def finish(tx: Transaction) -> None:
    """End of a batch: store what is gathered, then each kind of change in one statement (reactions, edits,
    deletions, statuses, receipts), then contacts' names and conversations' times.

    Messages are stored first and changes applied after, so a reaction or a status can be about a
    message of the same batch; rows are locked in one order by every worker. The statements go in a few
    round trips (`run_together`): one for the new contacts, one for the messages and the changes, and
    one for the rest (with the messages that changes found nothing to change, if any).
    """
    statements = _flush_statements(tx)
    changes = tx.pending.pop(CHANGES, None)
    if changes:
        statements += _change_statements(changes)
        targets = [row for _, row, _ in changes]
        statements.append(("stored_messages_among", {"rows": json.dumps(targets, ensure_ascii=False)}))
        found = {(r["user_id"], r["channel"], r["external_id"]) for r in tx.run_together(statements)}
        for _, row, fallback in changes:
            # A change about a message older than our history (a reaction to it) shows on its own.
            if fallback is not None and (row["user_id"], row["channel"], row["target"]) not in found:
                record(tx, fallback)
        statements = _flush_statements(tx)
    named = [r for r in tx.pending.get(STORED, ()) if r["contact_name"] or r["contact_username"]]
    for rows, name in ((tx.pending.get(STATUSES), "apply_statuses"), (tx.pending.get(RECEIPTS), "apply_receipts"),
                       (named, "refresh_contacts"), (tx.pending.get(STORED), "bump_conversations")):
        if rows:
            statements.append((name, {"rows": json.dumps(rows, ensure_ascii=False)}))
    tx.run_together(statements)
    for key in BUFFERS:
        tx.pending.pop(key, None)


def _change_statements(changes: list) -> list[tuple[str, dict]]:
    """Deletions, edits, then reactions; one row per message per statement: the n-th change of each message
    goes in round n, in order."""
    statements = []
    for name in ("apply_deletions", "apply_edits", "apply_reactions"):
        rounds: list[list] = []
        seen: dict = {}
        for query, row, _ in changes:
            if query != name:
                continue
            key = (row["user_id"], row["channel"], row["target"])
            index = seen.get(key, 0)
            seen[key] = index + 1
            while len(rounds) <= index:
                rounds.append([])
            rounds[index].append(row)
        statements += [(name, {"rows": json.dumps(batch, ensure_ascii=False)}) for batch in rounds]
    return statements


def _change(tx: Transaction, query: str, row: dict, fallback: Message | None) -> None:
    tx.pending.setdefault(CHANGES, []).append((query, row, fallback))


def discard(tx: Transaction) -> None:
    """Forget the gathered messages (their event failed and is rolled back)."""
    for key in BUFFERS:
        tx.pending.pop(key, None)


def react(tx: Transaction, user_id: int, channel: str, target: str, reactor: str, emoji: str | None,
          at: datetime, reaction: str | None = None, fallback: Message | None = None) -> None:
    """Set (emoji) or clear (None) one person's reaction on a message; `fallback` is stored if it is not stored."""
    _change(tx, "apply_reactions", {"user_id": user_id, "channel": channel, "target": target, "reactor": reactor,
                                    "reaction": {"emoji": emoji or None, "reaction": reaction, "at": at.isoformat()},
                                    "at": at.isoformat()}, fallback)


def edit(tx: Transaction, user_id: int, channel: str, target: str, text: str | None, at: datetime,
         fallback: Message | None = None) -> None:
    """Show a message's new text, keeping the old one; `fallback` is stored if the message is not."""
    _change(tx, "apply_edits", {"user_id": user_id, "channel": channel, "target": target, "text": text,
                                "at": at.isoformat()}, fallback)


def delete(tx: Transaction, user_id: int, channel: str, target: str, at: datetime,
           fallback: Message | None = None) -> None:
    """Mark a message deleted; `fallback` is stored if the message is not."""
    _change(tx, "apply_deletions", {"user_id": user_id, "channel": channel, "target": target,
                                    "at": at.isoformat()}, fallback)


def record_status(tx: Transaction, *, user_id: int, channel: str, external_id: str, status: str,
                  at: datetime | None, recipient_id: str | None = None, error: dict | None = None,
                  pricing: dict | None = None, callback_data: str | None = None, event_id: int | None = None) -> None:
    """Gather a status of one of our messages: `finish` keeps it and moves the message to it (never back)."""
    tx.pending.setdefault(STATUSES, []).append(
        {"user_id": user_id, "channel": channel, "external_id": external_id, "status": status,
         "at": at.isoformat() if at else None, "recipient_id": recipient_id, "error": error, "pricing": pricing,
         "callback_data": callback_data, "event_id": event_id})


def receipt(tx: Transaction, *, user_id: int, channel: str, account_id: str, contact_key: str, status: str,
            at: datetime | None, mids: list[str], watermark: datetime | None) -> None:
    """Gather a contact's read (or delivery) receipt of our messages up to a message or a time (applied by `finish`)."""
    tx.pending.setdefault(RECEIPTS, []).append(
        {"user_id": user_id, "channel": channel, "account_id": account_id, "contact_key": contact_key,
         "status": status, "at": at.isoformat() if at else None, "mids": mids,
         "watermark": watermark.isoformat() if watermark else None})


def contact_of(tx: Transaction, user_id: int, channel: str, external_id: str) -> str | None:
    """The contact of the conversation holding a stored (or gathered) message (None if neither)."""
    for message in reversed(tx.pending.get(PENDING, ())):
        if message.external_id == external_id:
            return message.contact_key
    row = tx.one("contact_of_message", user_id=user_id, channel=channel, external_id=external_id)
    return row["contact_key"] if row else None
