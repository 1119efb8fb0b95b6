"""Webhook handlers by object and field (SPEC 8): each writes the event into the inbox idempotently.

`dispatch(tx, event)` runs inside the transaction that also marks the event processed, so an
inbox row exists exactly when its event is done. It returns a note for the event (or None).
"""
from __future__ import annotations

from typing import Callable

from webhook_app.webhooks.handlers import instagram, page, whatsapp
from webhook_app.webhooks.handlers.interactions import MalformedEvent

__all__ = ["dispatch", "MalformedEvent", "HANDLERS"]

ChangeHandler = Callable[[object, object, dict], None]

# (object, changes[].field) -> handler(tx, event, change)
HANDLERS: dict[tuple[str, str], ChangeHandler] = {
    ("instagram", "comments"): instagram.handle_comment,
    ("instagram", "live_comments"): instagram.handle_comment,
    ("instagram", "mentions"): instagram.handle_mention,
    ("instagram", "story_insights"): instagram.handle_story_insights,
    ("page", "feed"): page.handle_feed,
    ("whatsapp_business_account", "messages"): whatsapp.handle_messages,
    ("whatsapp_business_account", "message_template_status_update"): whatsapp.handle_template_status,
    ("whatsapp_business_account", "template_category_update"): whatsapp.handle_template_status,
}

# Objects whose entries may carry messaging[] (Instagram DMs, and Messenger on a Page).
MESSAGING_PLATFORMS = {"instagram": "instagram", "page": "facebook"}


def dispatch(tx, event) -> str | None:
    """Handle every messaging[] item and changes[] item of one entry; note what had no handler."""
    payload = event.payload
    if not isinstance(payload, dict):
        raise MalformedEvent("the entry is not an object")
    unhandled: list[str] = []
    messaging = payload.get("messaging")
    if messaging is not None:
        platform = MESSAGING_PLATFORMS.get(event.object)
        if platform is None:
            unhandled.append(f"{event.object}/messaging")
        else:
            if not isinstance(messaging, list):
                raise MalformedEvent("messaging is not a list")
            for item in messaging:
                instagram.handle_messaging(tx, event, item, platform)
    changes = payload.get("changes")
    if changes is not None:
        if not isinstance(changes, list):
            raise MalformedEvent("changes is not a list")
        for change in changes:
            if not isinstance(change, dict):
                raise MalformedEvent("a change is not an object")
            handler = HANDLERS.get((event.object, str(change.get("field"))))
            if handler is None:
                unhandled.append(f"{event.object}/{change.get('field')}")
            else:
                handler(tx, event, change)
    if messaging is None and changes is None:
        return "nothing to handle: the entry has neither messaging nor changes"
    if unhandled:
        return "no handler for " + ", ".join(sorted(set(unhandled)))
    return None
