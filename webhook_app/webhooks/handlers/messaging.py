"""Instagram and Messenger `messaging[]` (and `standby[]`) items: messages, echoes, reactions, edits,
deletions, postbacks, referrals, read and delivery receipts, thread handover.

Each returns a note when the item is of a kind we do not handle (processed, never failed), and
raises MalformedEvent when Meta's id it needs is missing.
"""
from __future__ import annotations

from webhook_app.conversations import store as conversations
from webhook_app.conversations.store import INBOUND, OUTBOUND, Message
from webhook_app.webhooks.handlers.interactions import (
    MalformedEvent,
    dict_of,
    id_of,
    list_of,
    require,
    text_of,
    timestamp,
    when,
)

HANDOVER = ("pass_thread_control", "take_thread_control", "request_thread_control")


def _attachment(raw: dict) -> dict:
    payload = dict_of(raw, "payload")
    found = {"type": str(raw.get("type") or "file"), "url": text_of(payload, "url"),
             "title": text_of(payload, "title") or text_of(raw, "title"),
             "sticker_id": payload.get("sticker_id"), "reel_video_id": payload.get("reel_video_id"),
             "coordinates": payload.get("coordinates") if isinstance(payload.get("coordinates"), dict) else None}
    return {k: v for k, v in found.items() if v is not None}


def message_content(message: dict) -> tuple[str, str | None, dict]:
    """(kind, text, content) of a message as a person sees it; an attachment-only one says what it is."""
    text = text_of(message, "text")
    content: dict = {}
    attachments = [_attachment(a) for a in list_of(message, "attachments") if isinstance(a, dict)]
    if attachments:
        content["attachments"] = attachments
    reply_to = dict_of(message, "reply_to")
    if reply_to.get("mid"):
        content["reply_to"] = {"mid": str(reply_to["mid"])}
    elif isinstance(reply_to.get("story"), dict):
        story = reply_to["story"]
        content["reply_to"] = {"story": {k: story[k] for k in ("id", "url") if story.get(k)}}
    if isinstance(message.get("quick_reply"), dict):
        content["quick_reply"] = {"payload": message["quick_reply"].get("payload")}
    if isinstance(message.get("referral"), dict):
        content["referral"] = message["referral"]
    if message.get("is_unsupported"):
        kind = "unsupported"
    elif attachments:
        kind = attachments[0]["type"]
    elif text is not None:
        kind = "text"
    else:
        kind = "unsupported"
    return kind, text, content


def handle_item(tx, event, item, channel: str) -> str | None:
    """One messaging[] item of an Instagram account or a Page."""
    if not isinstance(item, dict):
        raise MalformedEvent("a messaging item is not an object")
    account = str(event.entry_id or id_of(item, "recipient") or "")
    sender, recipient = id_of(item, "sender"), id_of(item, "recipient")
    at = when(item.get("timestamp"))
    base = dict(user_id=event.user_id, channel=channel, account_id=account, occurred_at=at, event_id=event.id)

    if isinstance(item.get("message"), dict):
        message = item["message"]
        mid = require(message, "mid", "a message")
        echo = bool(message.get("is_echo"))
        contact = recipient if echo else sender
        if not contact:
            raise MalformedEvent(f"a message has no {'recipient' if echo else 'sender'} id")
        if message.get("is_deleted"):
            conversations.delete(tx, event.user_id, channel, mid, at, fallback=Message(
                **base, contact_key=contact, external_id=mid, kind="deleted", direction=OUTBOUND if echo else INBOUND,
                sender_id=sender, deleted_at=at))
            return None
        kind, text, content = message_content(message)
        if echo and isinstance(message.get("metadata"), str):
            content["metadata"] = message["metadata"]  # what our Send API call carried: a reply's own id (SPEC 16)
        conversations.record(tx, Message(**base, contact_key=contact, external_id=mid, kind=kind, text=text,
                                         content=content, direction=OUTBOUND if echo else INBOUND, sender_id=sender))
        return None

    if isinstance(item.get("reaction"), dict):
        reaction = item["reaction"]
        target = require(reaction, "mid", "a reaction")
        if not sender:
            raise MalformedEvent("a reaction has no sender id")
        removed = reaction.get("action") == "unreact"
        emoji = None if removed else (text_of(reaction, "emoji") or text_of(reaction, "reaction"))
        # A reaction to a message older than what we have shows on its own.
        fallback = None if removed else Message(
            **base, contact_key=recipient if sender == account else sender, external_id=f"reaction:{target}:{sender}",
            kind="reaction", text=emoji, content={"reacted_to": target}, sender_id=sender,
            direction=OUTBOUND if sender == account else INBOUND)
        conversations.react(tx, event.user_id, channel, target, sender, emoji, at,
                            reaction=text_of(reaction, "reaction"), fallback=fallback)
        return None

    if isinstance(item.get("message_edit"), dict):
        edit = item["message_edit"]
        target = require(edit, "mid", "a message edit")
        text = text_of(edit, "text")
        if not sender:
            raise MalformedEvent("a message edit has no sender id")
        conversations.edit(tx, event.user_id, channel, target, text, at, fallback=Message(
            **base, contact_key=sender, external_id=target, kind="text", text=text, direction=INBOUND,
            sender_id=sender, edited_at=at))
        return None

    if isinstance(item.get("postback"), dict):
        postback = item["postback"]
        if not sender:
            raise MalformedEvent("a postback has no sender id")
        key = text_of(postback, "mid") or f"postback:{sender}:{item.get('timestamp')}"
        content = {"postback": {"payload": postback.get("payload")}}
        if isinstance(postback.get("referral"), dict):
            content["referral"] = postback["referral"]
        conversations.record(tx, Message(**base, contact_key=sender, external_id=key, kind="postback",
                                         text=text_of(postback, "title"), content=content, direction=INBOUND,
                                         sender_id=sender))
        return None

    if isinstance(item.get("referral"), dict):
        if not sender:
            raise MalformedEvent("a referral has no sender id")
        referral = item["referral"]
        conversations.record(tx, Message(**base, contact_key=sender, kind="referral",
                                         external_id=f"referral:{sender}:{item.get('timestamp')}",
                                         text=text_of(dict_of(referral, "ads_context_data"), "ad_title"),
                                         content={"referral": referral}, direction=INBOUND, sender_id=sender))
        return None

    for key, status in (("read", "read"), ("delivery", "delivered")):
        if isinstance(item.get(key), dict):
            receipt = item[key]
            mids = [str(m) for m in ([receipt.get("mid")] + list_of(receipt, "mids")) if m]
            watermark = timestamp(receipt.get("watermark"))
            if not mids and watermark is None:
                raise MalformedEvent(f"a {key} receipt has neither mid nor watermark")
            if not sender:
                raise MalformedEvent(f"a {key} receipt has no sender id")
            conversations.receipt(tx, user_id=event.user_id, channel=channel, account_id=account, contact_key=sender,
                                  status=status, at=at, mids=mids, watermark=watermark)
            return None

    for key in HANDOVER:
        if isinstance(item.get(key), dict):
            control = item[key]
            contact = sender if sender != account else recipient
            if not contact:
                raise MalformedEvent(f"a {key} item has no sender id")
            app = control.get("new_owner_app_id") or control.get("previous_owner_app_id") or control.get(
                "requested_owner_app_id")
            words = {"pass_thread_control": "passed to app", "take_thread_control": "taken back from app",
                     "request_thread_control": "requested by app"}[key]
            conversations.record(tx, Message(**base, contact_key=contact, kind="handover",
                                             external_id=f"{key}:{contact}:{item.get('timestamp')}",
                                             text=f"Conversation {words} {app}" if app else None,
                                             content={"handover": {"type": key, **control}}, direction=INBOUND,
                                             sender_id=sender))
            return None

    kinds = sorted(k for k in item if k not in ("sender", "recipient", "timestamp"))
    return f"no handler for messaging item {'/'.join(kinds) or '(empty)'}"
