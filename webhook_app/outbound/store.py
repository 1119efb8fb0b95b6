"""Outbound messages in the database: queueing a reply (with its row in the conversation), reading, resolving.

A reply is queued in one transaction with its conversation row (`outbound:<id>` until Meta names it)
and a NOTIFY that wakes the senders. The same Idempotency-Key (per user) gives back the message it
queued the first time; with another body it is refused.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from webhook_app.db import Database
from webhook_app.outbound.checks import Refusal
from webhook_app.web.serialize import iso
from webhook_app.webhooks import live

WAKE_CHANNEL = "outbound_messages"
MAX_KEY = 200


@dataclass(frozen=True)
class Queued:
    message: dict        # the outbound row
    created: bool        # False: the Idempotency-Key named a message queued before


def target(db: Database, user_id: int, conversation_id: int) -> dict | None:
    """The user's conversation with its reply window and account (None: not the user's)."""
    return db.one("outbound_target", user_id=user_id, conversation_id=conversation_id)


def comment(db: Database, user_id: int, message_id: int) -> dict | None:
    return db.one("outbound_comment", user_id=user_id, message_id=message_id)


def approved_templates(db: Database, user_id: int, whatsapp_account_id: int) -> list[dict]:
    return db.all("outbound_templates", user_id=user_id, whatsapp_account_id=whatsapp_account_id)


def template(db: Database, user_id: int, whatsapp_account_id: int, name: str, language: str) -> dict | None:
    return db.one("outbound_template", user_id=user_id, whatsapp_account_id=whatsapp_account_id, template_name=name,
                  language=language)


def request_hash(what: str, body: dict) -> str:
    """What a request asked, as a digest: the same Idempotency-Key must come with the same one."""
    return hashlib.sha256(json.dumps({"to": what, "body": body}, sort_keys=True).encode()).hexdigest()


def by_key(db: Database, user_id: int, key: str | None, digest: str) -> dict | None:
    """The message already queued under this key (None: none); another request under it is refused."""
    if key is None:
        return None
    found = db.one("outbound_by_key", user_id=user_id, idempotency_key=key)
    if found is not None and found["request_hash"] != digest:
        raise Refusal(422, "idempotency_conflict",
                      "This Idempotency-Key was already used for another message: use a new key.")
    return found


def queue(db: Database, user_id: int, target: dict, *, kind: str, recipient: str, body: dict, key: str | None,
          digest: str, shown_kind: str, content: dict, shown_text: str | None = None) -> Queued:
    """Queue a reply and show it in its conversation at once (one transaction), then wake the senders."""
    with db.transaction() as tx:
        row = tx.one("outbound_insert", user_id=user_id, conversation_id=target["id"], channel=target["channel"],
                     account_id=target["account_id"], account_kind=target["account_kind"],
                     account_ref=target["account_ref"], recipient=recipient, kind=kind, body=json.dumps(body),
                     idempotency_key=key, request_hash=digest)
        if row is not None:
            row = tx.one("outbound_insert_message", id=row["id"], user_id=user_id, conversation_id=target["id"],
                         channel=target["channel"], kind=shown_kind, account_id=target["account_id"],
                         text=shown_text or body.get("text") or _template_text(body),
                         content=json.dumps(content))
            tx.one("outbound_wake")
    if row is None:  # a request with the same key committed first
        return Queued(by_key(db, user_id, key, digest), created=False)
    live.announce(db, "conversations", [user_id])
    return Queued(row, created=True)


def _template_text(body: dict) -> str | None:
    template = body.get("template")
    return f"Template {template['name']}" if template else None


def get(db: Database, user_id: int, outbound_id: int) -> dict | None:
    return db.one("outbound_get", user_id=user_id, id=outbound_id)


def of_messages(db: Database, user_id: int, message_ids: list[int]) -> dict[int, dict]:
    """{message id: outbound row} for those of the conversation rows that are our replies."""
    if not message_ids:
        return {}
    return {r["message_id"]: r for r in db.all("outbound_of_messages", user_id=user_id, message_ids=message_ids)}


def resolve(db: Database, user_id: int, outbound_id: int, outcome: str) -> dict | None:
    """The user's word on an `unknown` message; None when it is not the user's or not `unknown`."""
    status = {"not_sent": "queued", "sent": "sent"}[outcome]
    with db.transaction() as tx:
        row = tx.one("outbound_resolve", user_id=user_id, id=outbound_id, status=status)
        if row is not None and status == "queued":
            tx.one("outbound_wake")
    if row is not None:
        live.announce(db, "conversations", [user_id])
    return row


def serialize(row: dict) -> dict:
    """An outbound message as the API shows it (SPEC 16, the contract's <outbound>)."""
    body = row["body"] or {}
    return {
        "id": row["id"], "conversation_id": row["conversation_id"], "channel": row["channel"], "kind": row["kind"],
        "text": body.get("text"), "attachment": body.get("attachment"), "template": body.get("template"),
        "status": row["status"], "external_id": row["external_id"], "error": row["error"],
        "attempts": row["attempts"], "created_at": iso(row["created_at"]), "status_at": iso(row["status_at"]),
        "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "queued" else None,
    }
