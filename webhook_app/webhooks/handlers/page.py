"""Facebook Page handlers: the feed (posts, comments, reactions on the Page)."""
from __future__ import annotations

from webhook_app.webhooks.handlers.interactions import MalformedEvent, record, timestamp, value_of


def handle_feed(tx, event, change: dict) -> None:
    """A post, comment or reaction added, edited or removed on the Page."""
    value = value_of(change)
    target = value.get("comment_id") or value.get("post_id") or value.get("reaction_id")
    if target is None:
        raise MalformedEvent("a feed change has no comment_id or post_id")
    sender = value.get("from", {}).get("id") if isinstance(value.get("from"), dict) else None
    # One object gets added, edited, removed, and reacted to by many: each is its own row.
    key = f"{target}:{value.get('item')}:{value.get('verb')}:{sender}:{value.get('created_time')}"
    record(tx, event, platform="facebook", kind="feed", external_id=key, sender_id=sender,
           text=value.get("message"), status=value.get("verb"), data=value,
           occurred_at=timestamp(value.get("created_time") or change.get("time")))
