"""Webhook handlers by object and field (SPEC 8): messages into conversations, the rest into the activity log.

`dispatch(tx, event)` runs inside the transaction that also marks the event processed, so a
message exists exactly when its event is done. It returns a note for the event (or None): what
had no handler, or why nothing was done. A payload missing Meta's id raises MalformedEvent, which
sends the event to dead letter at once (it could never succeed).
"""
from __future__ import annotations

from typing import Callable

from webhook_app.conversations import store as conversations
from webhook_app.webhooks.handlers import instagram, messaging, page, whatsapp
from webhook_app.webhooks.handlers.interactions import MalformedEvent

__all__ = ["dispatch", "MalformedEvent", "HANDLERS"]

ChangeHandler = Callable[[object, object, dict], "str | None"]

# (object, changes[].field) -> handler(tx, event, change)
HANDLERS: dict[tuple[str, str], ChangeHandler] = {
    ("instagram", "comments"): instagram.handle_comment,
    ("instagram", "live_comments"): instagram.handle_comment,
    ("instagram", "mentions"): instagram.handle_mention,
    ("instagram", "story_insights"): instagram.handle_story_insights,
    ("page", "feed"): page.handle_feed,
    ("whatsapp_business_account", "messages"): whatsapp.handle_messages,
    ("whatsapp_business_account", "smb_message_echoes"): whatsapp.handle_echoes,
    ("whatsapp_business_account", "message_template_status_update"): whatsapp.handle_template_update,
    ("whatsapp_business_account", "template_category_update"): whatsapp.handle_template_update,
    ("whatsapp_business_account", "message_template_quality_update"): whatsapp.handle_template_update,
    ("whatsapp_business_account", "message_template_components_update"): whatsapp.handle_template_update,
    ("whatsapp_business_account", "account_update"): whatsapp.handle_account_update,
    ("whatsapp_business_account", "phone_number_quality_update"): whatsapp.handle_account_update,
}

# Objects whose entries carry messaging[] (and standby[] while another app owns the thread).
MESSAGING_CHANNELS = {"instagram": "instagram", "page": "messenger"}


def unowned_note(entry_id) -> str:
    return f"no connected account owns {entry_id} yet: kept for it, and handled when it is connected"


def handle(tx, event) -> str | None:
    """Handle every messaging[]/standby[] item and changes[] item of one entry; note what had no handler."""
    payload = event.payload
    if not isinstance(payload, dict):
        raise MalformedEvent("the entry is not an object")
    if event.user_id is None:
        return unowned_note(event.entry_id)
    notes: list[str] = []
    seen = False
    for key in ("messaging", "standby"):
        items = payload.get(key)
        if items is None:
            continue
        seen = True
        channel = MESSAGING_CHANNELS.get(event.object)
        if channel is None:
            notes.append(f"no handler for {event.object}/{key}")
            continue
        if not isinstance(items, list):
            raise MalformedEvent(f"{key} is not a list")
        for item in items:
            notes.append(messaging.handle_item(tx, event, item, channel))
    changes = payload.get("changes")
    if changes is not None:
        seen = True
        if not isinstance(changes, list):
            raise MalformedEvent("changes is not a list")
        for change in changes:
            if not isinstance(change, dict):
                raise MalformedEvent("a change is not an object")
            handler = HANDLERS.get((event.object, str(change.get("field"))))
            if handler is None:
                notes.append(f"no handler for {event.object}/{change.get('field')}")
            else:
                notes.append(handler(tx, event, change))
    if not seen:
        return "nothing to handle: the entry has neither messaging nor changes"
    found = sorted({n for n in notes if n})
    return "; ".join(found) if found else None


class Dispatcher:
    """The queue's handler: `handle` per event; the messages of a batch are stored together by `finish`."""

    @staticmethod
    def begin(tx, events) -> None:
        conversations.lock_users(tx, {e.user_id for e in events if e.user_id is not None})

    def __call__(self, tx, event) -> str | None:
        return handle(tx, event)

    @staticmethod
    def finish(tx) -> None:
        conversations.finish(tx)

    @staticmethod
    def discard(tx) -> None:
        conversations.discard(tx)


dispatch = Dispatcher()
