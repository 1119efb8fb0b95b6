"""What the conversation view needs to offer a reply: can the user reply now, the window, the templates, our sends."""
from __future__ import annotations

from datetime import datetime, timezone

from webhook_app.db import Database
from webhook_app.outbound import checks, store
from webhook_app.outbound.checks import Refusal
from webhook_app.web.serialize import iso


def reply(db: Database, user_id: int, conversation_id: int, now: datetime | None = None) -> dict:
    """The conversation's `reply` block: can_reply, window_open, window_closes_at, needs_template, reason."""
    target = store.target(db, user_id, conversation_id)
    now = now or datetime.now(timezone.utc)
    is_open, closes = checks.window(target, now) if target else (False, None)
    out = {"can_reply": False, "window_open": is_open, "window_closes_at": iso(closes),
           "needs_template": False, "reason": None}
    if target is None:
        return out
    if target["thread"] == "mentions":
        return {**out, "reason": "Mentions cannot be answered here: open the post in Instagram."}
    try:
        checks.account(target)
    except Refusal as exc:
        return {**out, "reason": exc.message}
    if target["thread"] == "comments":
        return {**out, "can_reply": True, "reason": None}
    if is_open:
        return {**out, "can_reply": True}
    if target["channel"] == "whatsapp":
        return {**out, "can_reply": True, "needs_template": True,
                "reason": "The customer last wrote more than 24 hours ago: only a template can be sent now."}
    return {**out, "reason": "The customer last wrote more than 24 hours ago: you can answer when they write again."}


def templates(db: Database, user_id: int, target: dict) -> list[dict]:
    """The APPROVED templates of a WhatsApp conversation's account (none for other channels)."""
    if target["channel"] != "whatsapp" or target.get("whatsapp_account_id") is None:
        return []
    out = []
    for row in store.approved_templates(db, user_id, target["whatsapp_account_id"]):
        parts = row["components"] or {}
        header = parts.get("header") or {}
        out.append({"name": row["name"], "language": row["language"], "category": row["category"],
                    "body": (parts.get("body") or {}).get("text") or "",
                    "variables": len(checks.body_variables(row)),
                    "header": header.get("text") if header.get("format", "TEXT") == "TEXT" else None,
                    "footer": (parts.get("footer") or {}).get("text")})
    return out


def outbound_of(db: Database, user_id: int, message_ids: list[int]) -> dict[int, dict]:
    """{message id: <outbound>} for the conversation rows that are replies sent from here."""
    return {mid: store.serialize(row) for mid, row in store.of_messages(db, user_id, message_ids).items()}
