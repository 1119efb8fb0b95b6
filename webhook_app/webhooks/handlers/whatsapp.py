"""WhatsApp changes[]: messages of every type and statuses, business-app echoes, template and account updates."""
from __future__ import annotations

from webhook_app.conversations import store as conversations
from webhook_app.conversations.store import INBOUND, OUTBOUND, Message
from webhook_app.message_templates import sync as templates_sync
from webhook_app.webhooks.handlers.interactions import (
    MalformedEvent,
    dict_of,
    list_of,
    record,
    require,
    text_of,
    timestamp,
    value_of,
    when,
)

MEDIA = ("image", "video", "audio", "document", "sticker")
MEDIA_FIELDS = ("id", "mime_type", "sha256", "caption", "filename", "voice", "animated", "url")


def _error(raw) -> dict | None:
    """Meta's error object as we keep it: code, title, message, details."""
    if not isinstance(raw, dict):
        return None
    found = {"code": raw.get("code"), "title": raw.get("title"), "message": raw.get("message"),
             "details": dict_of(raw, "error_data").get("details")}
    return {k: v for k, v in found.items() if v is not None} or None


def _contact_card(raw: dict) -> dict:
    name = dict_of(raw, "name")
    return {"name": name.get("formatted_name") or " ".join(
                filter(None, (name.get("first_name"), name.get("last_name")))) or None,
            "phones": [{"phone": p.get("phone"), "wa_id": p.get("wa_id"), "type": p.get("type")}
                       for p in list_of(raw, "phones") if isinstance(p, dict)],
            "emails": [e.get("email") for e in list_of(raw, "emails") if isinstance(e, dict) and e.get("email")],
            "org": dict_of(raw, "org").get("company")}


def message_content(message: dict) -> tuple[str, str | None, dict]:
    """(kind, text, content) of one WhatsApp message as a person sees it (SPEC 15)."""
    kind = str(message.get("type") or "unknown")
    body = dict_of(message, kind)
    content: dict = {}
    text = None
    if kind == "text":
        text = text_of(body, "body")
    elif kind in MEDIA:
        attachment = {"type": kind, **{("media_id" if k == "id" else k): body[k] for k in MEDIA_FIELDS if k in body}}
        content["attachments"] = [attachment]
        text = text_of(body, "caption")
    elif kind == "location":
        content["location"] = {k: body.get(k) for k in ("latitude", "longitude", "name", "address", "url")
                               if body.get(k) is not None}
        text = text_of(body, "name")
    elif kind == "contacts":
        content["contacts"] = [_contact_card(c) for c in list_of(message, "contacts") if isinstance(c, dict)]
    elif kind == "interactive":
        choice_type = str(body.get("type") or "")
        chosen = dict_of(body, choice_type)
        if choice_type == "nfm_reply":
            content["choice"] = {"type": choice_type, "name": chosen.get("name"), "response": chosen.get("response_json")}
            text = text_of(chosen, "body")
        else:
            content["choice"] = {"type": choice_type, "id": chosen.get("id"), "title": chosen.get("title"),
                                 "description": chosen.get("description")}
            text = text_of(chosen, "title")
        kind = "choice"
    elif kind == "button":
        content["choice"] = {"type": "button", "payload": body.get("payload"), "title": body.get("text")}
        text, kind = text_of(body, "text"), "choice"
    elif kind == "order":
        content["order"] = {"catalog_id": body.get("catalog_id"),
                            "items": [i for i in list_of(body, "product_items") if isinstance(i, dict)]}
        text = text_of(body, "text")
    elif kind == "system":
        content["system"] = body
        text = text_of(body, "body")
    elif kind in ("unsupported", "unknown"):
        kind = "unsupported"
    else:  # a type Meta added after this was written: say what it is, keep what it held
        content["raw"] = body or None
    context = dict_of(message, "context")
    if context.get("id"):
        content["reply_to"] = {"mid": str(context["id"]), "from": context.get("from")}
    if context.get("forwarded") or context.get("frequently_forwarded"):
        content["forwarded"] = "frequently" if context.get("frequently_forwarded") else True
    if isinstance(context.get("referred_product"), dict):
        content["referred_product"] = context["referred_product"]
    if isinstance(message.get("referral"), dict):
        content["referral"] = message["referral"]
    errors = [e for e in (_error(raw) for raw in list_of(message, "errors")) if e]
    if errors:
        content["errors"] = errors
    return kind, text, content


def _edited_text(edit: dict) -> str | None:
    inner = dict_of(edit, "message")
    kind = inner.get("type") or ("text" if "text" in inner else None)
    return text_of(dict_of(inner, "text"), "body") or text_of(dict_of(inner, kind or ""), "caption")


def _one_message(tx, event, phone: str, message, names: dict, direction: str) -> None:
    if not isinstance(message, dict):
        raise MalformedEvent("a WhatsApp message is not an object")
    wamid = require(message, "id", "a WhatsApp message")
    contact = require(message, "to" if direction == OUTBOUND else "from", "a WhatsApp message")
    at = when(message.get("timestamp"))
    base = dict(user_id=event.user_id, channel="whatsapp", account_id=phone, contact_key=contact, occurred_at=at,
                event_id=event.id, direction=direction, contact_name=names.get(contact),
                sender_id=str(message.get("from")) if message.get("from") else None)
    kind = message.get("type")
    if kind == "reaction":
        reaction = dict_of(message, "reaction")
        target = require(reaction, "message_id", "a WhatsApp reaction")
        emoji = text_of(reaction, "emoji")
        reactor = contact if direction == INBOUND else phone
        conversations.react(tx, event.user_id, "whatsapp", target, reactor, emoji, at, fallback=Message(
            **base, external_id=wamid, kind="reaction", text=emoji, content={"reacted_to": target}) if emoji else None)
        return
    if kind == "edit":
        edit = dict_of(message, "edit")
        target = require(edit, "original_message_id", "a WhatsApp edit")
        text = _edited_text(edit)
        conversations.edit(tx, event.user_id, "whatsapp", target, text, at,
                           fallback=Message(**base, external_id=target, kind="text", text=text, edited_at=at))
        return
    if kind == "revoke":
        target = require(dict_of(message, "revoke"), "original_message_id", "a WhatsApp revoke")
        conversations.delete(tx, event.user_id, "whatsapp", target, at,
                             fallback=Message(**base, external_id=target, kind="deleted", deleted_at=at))
        return
    kind, text, content = message_content(message)
    conversations.record(tx, Message(**base, external_id=wamid, kind=kind, text=text, content=content))


def _one_status(tx, event, status) -> None:
    if not isinstance(status, dict):
        raise MalformedEvent("a WhatsApp status is not an object")
    wamid = require(status, "id", "a WhatsApp status")
    state = require(status, "status", "a WhatsApp status")
    errors = [e for e in (_error(raw) for raw in list_of(status, "errors")) if e]
    pricing = dict(dict_of(status, "pricing"))
    origin = dict_of(dict_of(status, "conversation"), "origin").get("type")
    if origin:
        pricing["conversation_origin"] = origin
    conversations.record_status(tx, user_id=event.user_id, channel="whatsapp", external_id=wamid, status=state,
                                at=timestamp(status.get("timestamp")), recipient_id=text_of(status, "recipient_id"),
                                error=errors[0] if errors else None, pricing=pricing or None,
                                callback_data=text_of(status, "biz_opaque_callback_data"), event_id=event.id)


def handle_messages(tx, event, change: dict) -> str | None:
    """Incoming messages (keyed by wamid), with the contacts' profile names, and statuses of our messages."""
    value = value_of(change)
    phone = str(dict_of(value, "metadata").get("phone_number_id") or event.entry_id)
    names = {str(c.get("wa_id")): text_of(dict_of(c, "profile"), "name")
             for c in list_of(value, "contacts") if isinstance(c, dict) and c.get("wa_id")}
    messages, statuses = list_of(value, "messages"), list_of(value, "statuses")
    for message in messages:
        _one_message(tx, event, phone, message, names, INBOUND)
    for status in statuses:
        _one_status(tx, event, status)
    if not messages and not statuses:
        errors = [e for e in (_error(raw) for raw in list_of(value, "errors")) if e]
        if errors:
            return "WhatsApp reported: " + "; ".join(f"{e.get('code')} {e.get('title') or e.get('message')}"
                                                     for e in errors)
        return "a WhatsApp messages change with no messages or statuses"
    return None


def handle_echoes(tx, event, change: dict) -> None:
    """Messages the business sent from the WhatsApp Business app (smb_message_echoes)."""
    value = value_of(change)
    phone = str(dict_of(value, "metadata").get("phone_number_id") or event.entry_id)
    for message in list_of(value, "message_echoes"):
        _one_message(tx, event, phone, message, {}, OUTBOUND)


def handle_template_update(tx, event, change: dict) -> None:
    """A template was approved, rejected, paused, recategorised, re-rated or had its components changed."""
    value = value_of(change)
    template_id = require(value, "message_template_id", "a template update")
    field = change.get("field")
    what = {"message_template_status_update": value.get("event"),
            "template_category_update": value.get("new_category") or value.get("correct_category"),
            "message_template_quality_update": value.get("new_quality_score"),
            "message_template_components_update": "COMPONENTS"}.get(field)
    if not what:
        raise MalformedEvent(f"a {field} change says neither event, category nor quality")
    kind = {"message_template_status_update": "template_status", "template_category_update": "template_category",
            "message_template_quality_update": "template_quality",
            "message_template_components_update": "template_components"}[field]
    record(tx, event, platform="whatsapp", kind=kind, external_id=f"{template_id}:{what}:{change.get('time') or ''}"
           if field == "message_template_components_update" else f"{template_id}:{what}",
           text=value.get("message_template_name"), status=str(what), data=value,
           occurred_at=timestamp(change.get("time") or event.payload.get("time")))
    # The stored template changes at once, without waiting for the next full sync.
    templates_sync.apply_template_webhook(tx, event.entry_id, change, user_id=event.user_id)


def handle_account_update(tx, event, change: dict) -> None:
    """The WhatsApp Business account or a phone number changed (verification, bans, quality, limits)."""
    value = value_of(change)
    what = value.get("event") or value.get("decision") or "update"
    subject = value.get("display_phone_number") or value.get("phone_number") or event.entry_id
    kind = "phone_quality" if change.get("field") == "phone_number_quality_update" else "account_update"
    detail = value.get("current_limit") or value.get("new_limit") or dict_of(value, "ban_info").get("waba_ban_state")
    record(tx, event, platform="whatsapp", kind=kind, status=str(what), data=value,
           external_id=f"{subject}:{what}:{detail}:{change.get('time') or event.payload.get('time') or ''}",
           text=f"{subject}: {what}" + (f" ({detail})" if detail else ""),
           occurred_at=timestamp(change.get("time") or event.payload.get("time")))
