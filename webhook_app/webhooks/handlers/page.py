"""Facebook Page feed: comments become threads per post and commenter; other feed items are activity."""
from __future__ import annotations

from webhook_app.conversations import store as conversations
from webhook_app.conversations.store import INBOUND, OUTBOUND, Message
from webhook_app.webhooks.handlers.interactions import MalformedEvent, dict_of, id_of, record, text_of, value_of, when


def handle_feed(tx, event, change: dict) -> None:
    """A post, comment or reaction added, edited or removed on the Page."""
    value = value_of(change)
    item, verb = value.get("item"), value.get("verb")
    author_id = id_of(value, "from")
    at = when(value.get("created_time"), change.get("time"), event.payload.get("time"))
    page_id = str(event.entry_id)
    comment_id = value.get("comment_id")
    if item == "comment":
        if not comment_id:
            raise MalformedEvent("a feed comment has no comment_id")
        comment_id = str(comment_id)
        mine = author_id == page_id
        content = {k: str(value[k]) for k in ("post_id", "parent_id") if value.get(k)}
        contact = author_id or ""
        if mine and value.get("parent_id") and value.get("parent_id") != value.get("post_id"):
            contact = conversations.contact_of(tx, event.user_id, "messenger", str(value["parent_id"])) or ""
        for extra in ("photo", "video", "link"):
            if value.get(extra):
                content.setdefault("attachments", []).append({"type": "image" if extra == "photo" else extra,
                                                              "url": value[extra]})
        comment = Message(
            user_id=event.user_id, channel="messenger", account_id=page_id, contact_key=contact,
            contact_name=None if mine else text_of(dict_of(value, "from"), "name"), thread="comments",
            thread_key=str(value.get("post_id") or ""), external_id=comment_id, kind="comment",
            direction=OUTBOUND if mine else INBOUND, sender_id=author_id, text=text_of(value, "message"),
            content=content, occurred_at=at, deleted_at=at if verb == "remove" else None,
            edited_at=at if verb == "edited" else None, event_id=event.id)
        if verb == "remove":
            conversations.delete(tx, event.user_id, "messenger", comment_id, at, fallback=comment)
        elif verb == "edited":
            conversations.edit(tx, event.user_id, "messenger", comment_id, text_of(value, "message"), at,
                               fallback=comment)
        else:
            conversations.record(tx, comment)
        return
    if item == "reaction" and comment_id and author_id:
        # A reaction to a comment we never received has no message to show on: it is left out.
        emoji = None if verb == "remove" else str(value.get("reaction_type") or "like")
        conversations.react(tx, event.user_id, "messenger", str(comment_id), author_id, emoji, at,
                            reaction=value.get("reaction_type"))
        return
    target = comment_id or value.get("post_id") or value.get("reaction_id")
    if target is None:
        raise MalformedEvent("a feed change has no comment_id or post_id")
    # One object gets added, edited, removed, and reacted to by many: each is its own activity row.
    key = f"{target}:{item}:{verb}:{author_id}:{value.get('created_time')}"
    record(tx, event, platform="facebook", kind="feed", external_id=key, sender_id=author_id,
           text=value.get("message"), status=verb, data=value, occurred_at=at)
