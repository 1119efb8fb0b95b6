"""The read side of conversations: the list with filters and search, one conversation's messages, mark read.

Every query is scoped to the user; another user's conversation is not found, exactly like a missing one.
"""
from __future__ import annotations

from dataclasses import dataclass

from webhook_app.db import Database
from webhook_app.outbound import reply_state
from webhook_app.web.listing import decode_cursor, encode_cursor, page
from webhook_app.web.serialize import iso

CHANNELS = ("instagram", "messenger", "whatsapp")
THREADS = ("direct", "comments", "mentions")
CHANNEL_NAMES = {"instagram": "Instagram", "messenger": "Messenger", "whatsapp": "WhatsApp"}
MAX_QUERY = 200

_ATTACHMENT_WORDS = {
    "image": "Photo", "video": "Video", "audio": "Audio", "file": "File", "document": "Document",
    "sticker": "Sticker", "share": "Shared a post", "story_mention": "Mentioned you in their story",
    "ig_reel": "Shared a reel", "reel": "Shared a reel", "ig_post": "Shared a post", "ig_story": "Shared a story",
    "template": "Card", "fallback": "Link", "location": "Location", "animated_image_share": "GIF",
}


@dataclass(frozen=True)
class ConversationFilter:
    channel: str | None = None
    account: str | None = None
    kind: str | None = None
    unread: bool = False
    q: str | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def describe(kind: str | None, text: str | None, content: dict | None, deleted: bool = False) -> str:
    """One line saying what a message is, for a list or a quote; a message without text still says something."""
    content = content or {}
    if deleted:
        return "Message deleted"
    if kind == "voice" or (kind == "audio" and any(a.get("voice") for a in content.get("attachments", []))):
        return "Voice message"
    if text:
        return text
    attachments = content.get("attachments") or []
    if attachments:
        first = attachments[0]
        if first.get("filename"):
            return f"File: {first['filename']}"
        word = _ATTACHMENT_WORDS.get(first.get("type"), "Attachment")
        return word if len(attachments) == 1 else f"{word} and {len(attachments) - 1} more"
    if content.get("location"):
        place = content["location"]
        return "Location: " + (place.get("name") or place.get("address") or
                               f"{place.get('latitude')}, {place.get('longitude')}")
    if content.get("contacts"):
        names = [c.get("name") or "a contact" for c in content["contacts"]]
        return "Contact: " + ", ".join(names)
    if content.get("choice"):
        return "Chose: " + str(content["choice"].get("title") or content["choice"].get("payload") or "an option")
    if content.get("order"):
        count = len(content["order"].get("items") or [])
        return f"Order: {count} item{'s' if count != 1 else ''}"
    if kind == "reaction":
        return "Reacted to a message"
    if kind == "mention":
        return "Mentioned you in a comment" if content.get("comment_id") else "Mentioned you in a post"
    if kind == "referral" or content.get("referral"):
        return "Came from an ad or a link"
    if kind == "postback":
        return "Tapped a button"
    if kind == "unsupported":
        return "A message this service cannot show (open it in the app)"
    return {"comment": "Comment", "live_comment": "Live comment", "handover": "Conversation handed over",
            "system": "System message"}.get(kind or "", f"{(kind or 'message').replace('_', ' ').capitalize()}")


def contact_label(row: dict) -> str:
    """The contact's name as a person reads it: profile name, @username, phone number, never a bare id."""
    if row["kind"] == "mentions":
        return f"Mentions on {CHANNEL_NAMES[row['channel']]}"
    if row.get("contact_name"):
        return row["contact_name"]
    if row.get("contact_username"):
        return f"@{row['contact_username']}"
    key = row.get("contact_key") or ""
    if row["channel"] == "whatsapp" and key:
        return f"+{key}"
    return f"{CHANNEL_NAMES[row['channel']]} user {key[-4:]}" if key else f"{CHANNEL_NAMES[row['channel']]} user"


def _conversation(row: dict) -> dict:
    out = {
        "id": row["id"], "channel": row["channel"], "kind": row["kind"], "account_id": row["account_id"],
        "thread_key": row["thread_key"] or None,
        "contact": {"id": row["contact_key"] or None, "name": row.get("contact_name"),
                    "username": row.get("contact_username"), "picture_url": row.get("contact_picture_url"),
                    "label": contact_label(row)},
        "last_message_at": iso(row["last_message_at"]), "last_inbound_at": iso(row["last_inbound_at"]),
        "last_read_at": iso(row["last_read_at"]), "unread_count": row["unread_count"],
    }
    if "last_kind" in row:
        out["last_message"] = None if row["last_kind"] is None else {
            "kind": row["last_kind"], "direction": row["last_direction"], "status": row["last_status"],
            "text": row["last_text"],
            "summary": describe(row["last_kind"], row["last_text"], row["last_content"], bool(row["last_deleted_at"])),
        }
    return out


def list_conversations(db: Database, user_id: int, filters: ConversationFilter, before: str | None,
                       limit: int) -> tuple[list[dict], str | None]:
    """One page of the user's conversations, newest activity first, and the cursor of the next page."""
    before_at, before_id = decode_cursor(before)
    rows = db.all("list_conversations", user_id=user_id, channel=filters.channel, account=filters.account,
                  kind=filters.kind, unread=filters.unread, q=_like(filters.q) if filters.q else None,
                  before_at=before_at, before_id=before_id, limit=limit + 1)
    rows, cursor = page(rows, limit, "last_message_at")
    return [_conversation(r) for r in rows], cursor


def _reactions(raw: dict) -> list[dict]:
    return sorted(({"by": who, "emoji": r.get("emoji"), "reaction": r.get("reaction"), "at": r.get("at")}
                   for who, r in (raw or {}).items() if isinstance(r, dict) and r.get("emoji")),
                  key=lambda r: r["at"] or "")


def _message(row: dict, quoted: dict[str, dict]) -> dict:
    content = row["content"] or {}
    deleted = row["deleted_at"] is not None
    reply_to = content.get("reply_to")
    if reply_to and reply_to.get("mid"):
        target = quoted.get(reply_to["mid"])
        reply_to = {**reply_to, "found": target is not None,
                    "summary": describe(target["kind"], target["text"], target["content"], bool(target["deleted_at"]))
                    if target else "An earlier message"}
    return {
        "id": row["id"], "external_id": row["external_id"], "direction": row["direction"], "kind": row["kind"],
        "sender_id": row["sender_id"],
        "text": None if deleted else row["text"], "summary": describe(row["kind"], row["text"], content, deleted),
        "attachments": [] if deleted else content.get("attachments", []), "reply_to": reply_to,
        "location": content.get("location"), "contacts": content.get("contacts"), "choice": content.get("choice"),
        "order": content.get("order"), "referral": content.get("referral"), "postback": content.get("postback"),
        "quick_reply": content.get("quick_reply"), "errors": content.get("errors"),
        "reacted_to": content.get("reacted_to"), "forwarded": content.get("forwarded"),
        "reactions": _reactions(row["reactions"]),
        "edited": row["edited_at"] is not None, "edited_at": iso(row["edited_at"]),
        "edits": [] if deleted else row["edits"], "deleted": deleted, "deleted_at": iso(row["deleted_at"]),
        "status": row["status"], "status_at": iso(row["status_at"]), "error": row["error"], "pricing": row["pricing"],
        "occurred_at": iso(row["occurred_at"]), "received_at": iso(row["created_at"]),
    }


def get_conversation(db: Database, user_id: int, conversation_id: int, before: str | None,
                     limit: int) -> dict | None:
    """A conversation with its contact and one page of messages, oldest first; None when not the user's."""
    row = db.one("get_conversation", conversation_id=conversation_id, user_id=user_id)
    if row is None:
        return None
    before_at, before_id = decode_cursor(before)
    rows = db.all("conversation_messages", conversation_id=conversation_id, user_id=user_id,
                  before_at=before_at, before_id=before_id, limit=limit + 1)
    older = len(rows) > limit
    rows = rows[:limit]
    wanted = sorted({r["content"]["reply_to"]["mid"] for r in rows
                     if isinstance((r["content"] or {}).get("reply_to"), dict) and r["content"]["reply_to"].get("mid")})
    quoted = {q["external_id"]: q for q in db.all("messages_by_external_ids", conversation_id=conversation_id,
                                                   user_id=user_id, external_ids=wanted)} if wanted else {}
    cursor = encode_cursor(rows[-1]["occurred_at"], rows[-1]["id"]) if older else None
    messages = [_message(r, quoted) for r in reversed(rows)]
    # Our replies (SPEC 16) carry their send: status from queued to read, Meta's error; echoes of messages sent
    # elsewhere (the Meta apps) carry null.
    sends = reply_state.outbound_of(db, user_id, [m["id"] for m in messages if m["direction"] == "outbound"])
    for m in messages:
        if m["direction"] == "outbound":
            m["outbound"] = sends.get(m["id"])
            if m["outbound"] is not None:
                m["status"], m["error"] = m["outbound"]["status"], m["error"] or m["outbound"]["error"]
    return {**_conversation(row), "messages": messages, "next_cursor": cursor,
            "reply": reply_state.reply(db, user_id, conversation_id)}


def mark_read(db: Database, user_id: int, conversation_id: int) -> bool:
    """Everything that arrived in the conversation until now is read; False when not the user's."""
    return db.one("mark_conversation_read", conversation_id=conversation_id, user_id=user_id) is not None
