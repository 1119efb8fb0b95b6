"""WhatsApp handlers: messages and delivery statuses, template status and category updates."""
from __future__ import annotations

from webhook_app.message_templates import sync as templates_sync
from webhook_app.webhooks.handlers.interactions import MalformedEvent, record, require, timestamp, value_of


def handle_messages(tx, event, change: dict) -> None:
    """Incoming messages (keyed by wamid) and statuses of sent ones (keyed by wamid and status)."""
    value = value_of(change)
    phone_id = (value.get("metadata") or {}).get("phone_number_id") if isinstance(value.get("metadata"), dict) else None
    for message in value.get("messages") or []:
        text = message.get("text", {}).get("body") if isinstance(message.get("text"), dict) else None
        record(tx, event, platform="whatsapp", kind="whatsapp_message",
               external_id=require(message, "id", "a WhatsApp message"), account_id=phone_id,
               sender_id=message.get("from"), text=text, status=message.get("type"),
               occurred_at=timestamp(message.get("timestamp")), data=message)
    for status in value.get("statuses") or []:
        wamid = require(status, "id", "a WhatsApp status")
        state = require(status, "status", "a WhatsApp status")
        record(tx, event, platform="whatsapp", kind="whatsapp_status", external_id=f"{wamid}:{state}",
               account_id=phone_id, recipient_id=status.get("recipient_id"), status=state,
               occurred_at=timestamp(status.get("timestamp")), data=status)
    if not value.get("messages") and not value.get("statuses") and not value.get("errors"):
        raise MalformedEvent("a WhatsApp messages change has no messages or statuses")


def handle_template_status(tx, event, change: dict) -> None:
    """A message template was approved, rejected, paused... or moved to another category."""
    value = value_of(change)
    template_id = require(value, "message_template_id", "a template update")
    if change.get("field") == "template_category_update":
        kind, what = "template_category", value.get("new_category") or value.get("correct_category")
    else:
        kind, what = "template_status", value.get("event")
    if not what:
        raise MalformedEvent(f"a {change.get('field')} change says neither event nor category")
    record(tx, event, platform="whatsapp", kind=kind, external_id=f"{template_id}:{what}",
           text=value.get("message_template_name"), status=str(what), data=value,
           occurred_at=timestamp(change.get("time")))
    # The stored template changes at once, without waiting for the next full sync.
    templates_sync.apply_template_webhook(tx, event.entry_id, change, user_id=event.user_id)
