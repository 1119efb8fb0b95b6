"""Instagram changes[]: comments and live comments (threads per media and commenter), mentions, story insights."""
from __future__ import annotations

from webhook_app.conversations import store as conversations
from webhook_app.conversations.store import INBOUND, OUTBOUND, Message
from webhook_app.webhooks.handlers.interactions import (
    MalformedEvent,
    dict_of,
    id_of,
    record,
    text_of,
    timestamp,
    value_of,
    when,
)


def handle_comment(tx, event, change: dict) -> None:
    """A comment (or live comment) on the account's media; Meta names it `id` or `comment_id`."""
    value = value_of(change)
    comment_id = value.get("id") or value.get("comment_id")
    if comment_id in (None, "") or isinstance(comment_id, (dict, list)):
        raise MalformedEvent(f"a {change.get('field')} change has no id or comment_id")
    author = dict_of(value, "from")
    author_id = id_of(value, "from")
    media = dict_of(value, "media")
    media_id = id_of(value, "media") or text_of(value, "media_id") or ""
    mine = author_id is not None and author_id == str(event.entry_id)
    content = {"media": {k: media[k] for k in ("id", "media_product_type") if media.get(k)} or (
        {"id": media_id} if media_id else {})}
    contact = author_id or ""
    if value.get("parent_id"):
        content["parent_id"] = str(value["parent_id"])
        if mine:  # our reply belongs to the thread of the comment it answers
            contact = conversations.contact_of(tx, event.user_id, "instagram", content["parent_id"]) or ""
    conversations.record(tx, Message(
        user_id=event.user_id, channel="instagram", account_id=str(event.entry_id), contact_key=contact,
        contact_username=None if mine else text_of(author, "username"), thread="comments", thread_key=media_id,
        external_id=str(comment_id), kind="live_comment" if change.get("field") == "live_comments" else "comment",
        direction=OUTBOUND if mine else INBOUND, sender_id=author_id, text=text_of(value, "text"), content=content,
        occurred_at=when(value.get("timestamp"), change.get("time"), event.payload.get("time")), event_id=event.id))


def handle_mention(tx, event, change: dict) -> None:
    """The account was mentioned in a comment or a caption: a thread per media."""
    value = value_of(change)
    media_id, comment_id = value.get("media_id"), value.get("comment_id")
    if not media_id and not comment_id:
        raise MalformedEvent("a mention has no comment_id or media_id")
    conversations.record(tx, Message(
        user_id=event.user_id, channel="instagram", account_id=str(event.entry_id), contact_key="",
        thread="mentions", thread_key=str(media_id or ""), kind="mention", direction=INBOUND,
        external_id=f"mention:{comment_id}" if comment_id else f"mention:media:{media_id}",
        content={"media_id": str(media_id) if media_id else None, "comment_id": str(comment_id) if comment_id else None},
        occurred_at=when(change.get("time"), event.payload.get("time")), event_id=event.id))


def handle_story_insights(tx, event, change: dict) -> None:
    """A story's final figures; sent again, they replace the stored ones (activity, not a message)."""
    value = value_of(change)
    if not value.get("media_id"):
        raise MalformedEvent("story insights has no media_id")
    record(tx, event, platform="instagram", kind="story_insights", refresh=True,
           external_id=str(value["media_id"]), data=value, occurred_at=timestamp(change.get("time")))
