"""Instagram (and Messenger) handlers: messaging[] items, comments, live comments, mentions, story insights."""
from __future__ import annotations

from webhook_app.webhooks.handlers.interactions import MalformedEvent, record, require, timestamp, value_of


def _party(item: dict, key: str) -> str | None:
    party = item.get(key)
    return str(party["id"]) if isinstance(party, dict) and party.get("id") is not None else None


def handle_messaging(tx, event, item, platform: str) -> None:
    """One messaging[] item: message, echo, reaction, postback, read or deleted message."""
    if not isinstance(item, dict):
        raise MalformedEvent("a messaging item is not an object")
    common = dict(platform=platform, sender_id=_party(item, "sender"), recipient_id=_party(item, "recipient"),
                  occurred_at=timestamp(item.get("timestamp")), data=item)
    message = item.get("message")
    if isinstance(message, dict):
        mid = require(message, "mid", "a message")
        if message.get("is_deleted"):
            record(tx, event, kind="deleted", external_id=mid, **common)
        elif message.get("is_echo"):
            record(tx, event, kind="echo", external_id=mid, text=message.get("text"), **common)
        else:
            record(tx, event, kind="message", external_id=mid, text=message.get("text"), **common)
    elif isinstance(item.get("reaction"), dict):
        reaction = item["reaction"]
        mid = require(reaction, "mid", "a reaction")
        # One person can react, unreact and react again to a message: each is its own row.
        key = f"{mid}:{common['sender_id']}:{reaction.get('action', 'react')}:{item.get('timestamp')}"
        record(tx, event, kind="reaction", external_id=key, text=reaction.get("emoji"),
               status=reaction.get("reaction") or reaction.get("action"), **common)
    elif isinstance(item.get("postback"), dict):
        postback = item["postback"]
        key = postback.get("mid") or f"{common['sender_id']}:{item.get('timestamp')}"
        record(tx, event, kind="postback", external_id=str(key), text=postback.get("title"),
               status=postback.get("payload"), **common)
    elif isinstance(item.get("read"), dict):
        read = item["read"]
        key = read.get("mid") or read.get("watermark")
        if key is None:
            raise MalformedEvent("a read receipt has no mid")
        record(tx, event, kind="read", external_id=f"{key}:{common['sender_id']}", **common)
    else:
        raise MalformedEvent("a messaging item has no message, reaction, postback or read")


def handle_comment(tx, event, change: dict) -> None:
    """A comment (or live comment) on the account's media."""
    value = value_of(change)
    kind = "live_comment" if change.get("field") == "live_comments" else "comment"
    record(tx, event, platform="instagram", kind=kind, external_id=require(value, "id", "a comment"),
           sender_id=_party(value, "from"), text=value.get("text"),
           occurred_at=timestamp(value.get("timestamp") or change.get("time")), data=value)


def handle_mention(tx, event, change: dict) -> None:
    """The account was mentioned in a comment or a caption."""
    value = value_of(change)
    key = value.get("comment_id") or value.get("media_id")
    if key is None:
        raise MalformedEvent("a mention has no comment_id or media_id")
    record(tx, event, platform="instagram", kind="mention", external_id=str(key), data=value,
           occurred_at=timestamp(change.get("time")))


def handle_story_insights(tx, event, change: dict) -> None:
    """A story's final figures; sent again, they replace the stored ones."""
    value = value_of(change)
    record(tx, event, platform="instagram", kind="story_insights", refresh=True,
           external_id=require(value, "media_id", "story insights"), data=value,
           occurred_at=timestamp(change.get("time")))
