"""Sample webhook deliveries in Meta's shapes, signed as Meta signs them, sent to the app."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import struct
import time
import zlib

import requests
from flask import Blueprint, Response

from webhook_app.sandbox.state import SandboxState, new_id

# Attachment URLs in the samples point here: a stand-in for Meta's CDN (lookaside.fbsbx.com), serving a picture.
cdn_bp = Blueprint("sandbox_cdn", __name__, url_prefix="/cdn")


def _png(width: int = 96, height: int = 64, rgb: tuple[int, int, int] = (193, 53, 132)) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PICTURE = _png()


@cdn_bp.get("/<path:name>")
def picture(name: str):
    """Any attachment of the samples: one small picture (Meta's CDN answers with the media itself)."""
    return Response(PICTURE, mimetype="image/png", headers={"Cache-Control": "max-age=3600"})


def sign(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _first(items, default_factory):
    return next(iter(items), None) or default_factory()


# The sandbox's customers: the same few people write again, so the samples group into conversations.
IG_CUSTOMERS = (("1254459154682919", "anna.shops"), ("6583743608123456", "ben_ride"))
PSID = "7219584610372918"
WA_CUSTOMERS = (("4915112345678", "Jonas Weber"), ("16505551234", "Kerry Fisher"))
CDN = "https://lookaside.fbsbx.com"
# What the profile API answers about them (Instagram: name, username, profile_pic; Messenger: first/last name).
PROFILES = {
    IG_CUSTOMERS[0][0]: {"name": "Anna Schmidt", "username": IG_CUSTOMERS[0][1]},
    IG_CUSTOMERS[1][0]: {"name": "Ben Okafor", "username": IG_CUSTOMERS[1][1]},
    PSID: {"first_name": "Marie", "last_name": "Dubois"},
}


def _mid() -> str:
    return "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE" + secrets.token_hex(12)


def _wamid() -> str:
    return "wamid.HBgL" + secrets.token_hex(16)


class _Ids:
    """The objects a sample is for, and what earlier samples sent (so a reaction has a message to react to)."""

    def __init__(self, state: SandboxState, object_id: str | None, media_base: str):
        with state.lock:
            self.ig = object_id or _first(state.instagram, lambda: new_id(17))
            self.page = object_id or _first(state.pages, new_id)
            waba = state.wabas.get(object_id or "") or _first(state.wabas.values(), lambda: None)
            self.waba = object_id or (waba.id if waba else new_id())
            self.phone = (waba.phone_numbers[0] if waba and waba.phone_numbers
                          else {"id": new_id(), "display_phone_number": "15550101000"})
            self.template = (waba.templates[0] if waba and waba.templates
                             else {"id": new_id(), "name": "sandbox_template_1", "language": "en_US"})
            memory = state.__dict__.setdefault("sample_memory", {})
        self.memory = memory
        self.media = media_base.rstrip("/") + "/cdn/ig_messaging_cdn" if media_base else CDN + "/ig_messaging_cdn"
        self.now_s, self.now_ms = int(time.time()), int(time.time() * 1000)

    def remember(self, key: str, value: str) -> str:
        self.memory[key] = value
        return value

    def recall(self, key: str, default_factory) -> str:
        return self.memory.get(key) or default_factory()


def _ig(ids: _Ids, item: dict, *, echo: bool = False, customer: int = 0) -> dict:
    person = IG_CUSTOMERS[customer][0]
    sender, recipient = (ids.ig, person) if echo else (person, ids.ig)
    return {"object": "instagram", "entry": [{"time": ids.now_ms, "id": ids.ig, "messaging": [
        {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ids.now_ms, **item}]}]}


def _ig_message(ids: _Ids, **message) -> dict:
    mid = ids.remember("ig_mid", _mid())
    return _ig(ids, {"message": {"mid": mid, **message}})


def _change(ids: _Ids, obj: str, entry_id: str, field: str, value: dict) -> dict:
    return {"object": obj, "entry": [{"id": entry_id, "time": ids.now_s, "changes": [{"field": field, "value": value}]}]}


def _wa_value(ids: _Ids) -> dict:
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": ids.phone["display_phone_number"].replace(" ", "").replace(
                "-", "").lstrip("+"), "phone_number_id": ids.phone["id"]}}


def _wa_message(ids: _Ids, kind: str, body=None, *, customer: int = 0, **extra) -> dict:
    wa_id, name = WA_CUSTOMERS[customer]
    message = {"from": wa_id, "id": ids.remember("wa_wamid", _wamid()), "timestamp": str(ids.now_s), "type": kind,
               **extra}
    if body is not None:
        message[kind] = body
    return _change(ids, "whatsapp_business_account", ids.waba, "messages", {
        **_wa_value(ids), "contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]})


def _wa_status(ids: _Ids, status: str, **extra) -> dict:
    wamid = ids.recall("wa_echo", _wamid)
    return _change(ids, "whatsapp_business_account", ids.waba, "messages", {**_wa_value(ids), "statuses": [{
        "id": wamid, "status": status, "timestamp": str(ids.now_s), "recipient_id": WA_CUSTOMERS[0][0],
        "conversation": {"id": secrets.token_hex(16), "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"}, **extra}]})


def _template(ids: _Ids, field: str, **value) -> dict:
    t = ids.template
    return _change(ids, "whatsapp_business_account", ids.waba, field, {
        "message_template_id": int(t["id"]), "message_template_name": t["name"],
        "message_template_language": t["language"], **value})


# Every kind the inbox shows, in Meta's shapes (Instagram Messaging, Messenger Platform, Instagram and Page
# change fields, WhatsApp Cloud API): name -> builder.
BUILDERS = {
    "instagram_message": lambda ids, text: _ig_message(ids, text=text or "Hi! Is the shop open today?"),
    "instagram_image": lambda ids, text: _ig_message(ids, attachments=[
        {"type": "image", "payload": {"url": f"{ids.media}/{secrets.token_hex(6)}.png"}}]),
    "instagram_story_mention": lambda ids, text: _ig_message(ids, attachments=[
        {"type": "story_mention", "payload": {"url": f"{ids.media}/story-{secrets.token_hex(6)}.png"}}]),
    "instagram_share": lambda ids, text: _ig_message(ids, attachments=[
        {"type": "share", "payload": {"url": f"{ids.media}/post-{secrets.token_hex(6)}.png"}}]),
    "instagram_reel": lambda ids, text: _ig_message(ids, attachments=[{"type": "ig_reel", "payload": {
        "reel_video_id": new_id(17), "title": "Our summer collection", "url": f"{ids.media}/reel.mp4"}}]),
    "instagram_reply": lambda ids, text: _ig_message(ids, text=text or "Do you have this one in blue?",
                                                     reply_to={"mid": ids.recall("ig_mid", _mid)}),
    "instagram_story_reply": lambda ids, text: _ig_message(ids, text=text or "Love this!", reply_to={"story": {
        "url": f"{ids.media}/story.png", "id": new_id(17)}}),
    "instagram_quick_reply": lambda ids, text: _ig_message(ids, text="Opening hours",
                                                           quick_reply={"payload": "OPENING_HOURS"}),
    "instagram_reaction": lambda ids, text: _ig(ids, {"reaction": {
        "mid": ids.recall("ig_echo", lambda: ids.recall("ig_mid", _mid)), "action": "react", "reaction": "love",
        "emoji": "\u2764\ufe0f"}}),
    "instagram_edit": lambda ids, text: _ig(ids, {"message_edit": {
        "mid": ids.recall("ig_mid", _mid), "text": text or "Hi! Is the shop open on Sunday?", "num_edit": 1}}),
    "instagram_unsend": lambda ids, text: _ig(ids, {"message": {"mid": ids.recall("ig_mid", _mid),
                                                                "is_deleted": True}}),
    "instagram_echo": lambda ids, text: _ig(ids, {"message": {
        "mid": ids.remember("ig_echo", _mid()), "text": text or "Yes, until 6 pm!", "is_echo": True}}, echo=True),
    "instagram_seen": lambda ids, text: _ig(ids, {"read": {"mid": ids.recall("ig_echo", _mid)}}),
    "instagram_postback": lambda ids, text: _ig(ids, {"postback": {"mid": _mid(), "title": "Get started",
                                                                   "payload": "GET_STARTED"}}, customer=1),
    "instagram_referral": lambda ids, text: _ig(ids, {"referral": {
        "ref": "summer-sale", "source": "ADS", "type": "OPEN_THREAD", "ad_id": new_id(),
        "ads_context_data": {"ad_title": "Summer sale: 20% off", "photo_url": f"{ids.media}/ad.png",
                             "post_id": new_id(17)}}}, customer=1),
    "instagram_comment": lambda ids, text: _change(ids, "instagram", ids.ig, "comments", {
        "from": {"id": IG_CUSTOMERS[0][0], "username": IG_CUSTOMERS[0][1]},
        "media": {"id": ids.recall("ig_media", lambda: ids.remember("ig_media", new_id(17))),
                  "media_product_type": "FEED"},
        "id": new_id(17), "text": text or "Love this! 😍"}),
    "instagram_live_comment": lambda ids, text: _change(ids, "instagram", ids.ig, "live_comments", {
        "from": {"id": IG_CUSTOMERS[1][0], "username": IG_CUSTOMERS[1][1]},
        "media": {"id": new_id(17), "media_product_type": "LIVE"}, "id": new_id(17), "text": text or "Hello from the live!"}),
    "instagram_mention": lambda ids, text: _change(ids, "instagram", ids.ig, "mentions", {
        "media_id": new_id(17), "comment_id": new_id(17)}),
    "page_feed": lambda ids, text: (lambda post: _change(ids, "page", ids.page, "feed", {
        "from": {"id": new_id(), "name": "Sandbox Visitor"}, "item": "comment", "verb": "add", "post_id": post,
        "parent_id": post, "comment_id": f"{post.split('_')[1]}_{new_id()}", "created_time": ids.now_s,
        "message": text or "What time do you open tomorrow?"}))(f"{ids.page}_{new_id()}"),
    "messenger_message": lambda ids, text: {"object": "page", "entry": [{"id": ids.page, "time": ids.now_ms,
        "messaging": [{"sender": {"id": PSID}, "recipient": {"id": ids.page}, "timestamp": ids.now_ms,
                       "message": {"mid": "m_" + secrets.token_hex(16), "text": text or "Do you deliver?"}}]}]},
    "whatsapp_message": lambda ids, text: _wa_message(ids, "text", {"body": text or "Hello, I'd like to order."}),
    "whatsapp_image": lambda ids, text: _wa_message(ids, "image", {
        "caption": text or "This one, please", "mime_type": "image/jpeg", "sha256": secrets.token_hex(16),
        "id": new_id(16)}),
    "whatsapp_document": lambda ids, text: _wa_message(ids, "document", {
        "caption": "My order", "filename": "order-1042.pdf", "mime_type": "application/pdf",
        "sha256": secrets.token_hex(16), "id": new_id(16)}),
    "whatsapp_voice": lambda ids, text: _wa_message(ids, "audio", {
        "mime_type": "audio/ogg; codecs=opus", "sha256": secrets.token_hex(16), "id": new_id(16), "voice": True}),
    "whatsapp_location": lambda ids, text: _wa_message(ids, "location", {
        "latitude": 52.5200, "longitude": 13.4050, "name": "Alexanderplatz", "address": "10178 Berlin"}),
    "whatsapp_contacts": lambda ids, text: _wa_message(ids, "contacts", None, contacts=[{
        "name": {"formatted_name": "Barbara Johnson", "first_name": "Barbara", "last_name": "Johnson"},
        "phones": [{"phone": "+1 (940) 555-1234", "wa_id": "19405551234", "type": "MOBILE"}]}]),
    "whatsapp_button_reply": lambda ids, text: _wa_message(ids, "interactive", {
        "type": "button_reply", "button_reply": {"id": "confirm", "title": "Confirm order"}}),
    "whatsapp_list_reply": lambda ids, text: _wa_message(ids, "interactive", {
        "type": "list_reply", "list_reply": {"id": "express", "title": "Express shipping",
                                             "description": "Next day"}}),
    "whatsapp_template_button": lambda ids, text: _wa_message(ids, "button", {
        "payload": "STOP_PROMOTIONS", "text": "Stop promotions"}),
    "whatsapp_reaction": lambda ids, text: _wa_message(ids, "reaction", {
        "message_id": ids.recall("wa_echo", _wamid), "emoji": "\U0001f44d"}),
    "whatsapp_order": lambda ids, text: _wa_message(ids, "order", {
        "catalog_id": new_id(), "text": "Please deliver before noon", "product_items": [
            {"product_retailer_id": "mug-blue", "quantity": 2, "item_price": 12.5, "currency": "EUR"}]}),
    "whatsapp_ad_referral": lambda ids, text: _wa_message(ids, "text", {"body": "I saw your ad!"}, customer=1,
        referral={"source_url": "https://fb.me/sandbox", "source_id": new_id(), "source_type": "ad",
                  "headline": "Free delivery this week", "body": "Order on WhatsApp", "media_type": "image",
                  "image_url": f"{ids.media}/ad.png", "ctwa_clid": secrets.token_hex(12)}),
    "whatsapp_edit": lambda ids, text: (lambda original: _wa_message(ids, "edit", {
        "original_message_id": original,
        "message": {"type": "text", "text": {"body": text or "Hello, I'd like to order two."}}}))(
        ids.recall("wa_wamid", _wamid)),
    "whatsapp_revoke": lambda ids, text: (lambda original: _wa_message(ids, "revoke", {
        "original_message_id": original}))(ids.recall("wa_wamid", _wamid)),
    "whatsapp_echo": lambda ids, text: _change(ids, "whatsapp_business_account", ids.waba, "smb_message_echoes", {
        **_wa_value(ids), "message_echoes": [{
            "from": ids.phone["display_phone_number"].replace(" ", "").lstrip("+"), "to": WA_CUSTOMERS[0][0],
            "id": ids.remember("wa_echo", _wamid()), "timestamp": str(ids.now_s), "type": "text",
            "text": {"body": text or "Your order is on its way."}}]}),
    "whatsapp_status": lambda ids, text: _wa_status(ids, "delivered"),
    "whatsapp_status_read": lambda ids, text: _wa_status(ids, "read"),
    "whatsapp_status_failed": lambda ids, text: _wa_status(ids, "failed", errors=[{
        "code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours have passed since the "
                                  "customer last replied to this number."}}]),
    "template_status": lambda ids, text: _template(ids, "message_template_status_update", event="APPROVED",
                                                   reason="NONE"),
    "template_quality": lambda ids, text: _template(ids, "message_template_quality_update",
                                                    previous_quality_score="GREEN", new_quality_score="YELLOW"),
    "account_update": lambda ids, text: _change(ids, "whatsapp_business_account", ids.waba, "account_update", {
        "phone_number": ids.phone["display_phone_number"], "event": "VERIFIED_ACCOUNT"}),
    "phone_quality": lambda ids, text: _change(ids, "whatsapp_business_account", ids.waba,
                                               "phone_number_quality_update", {
        "display_phone_number": ids.phone["display_phone_number"], "event": "FLAGGED",
        "current_limit": "TIER_10K"}),
}
KINDS = tuple(BUILDERS)


def build(state: SandboxState, kind: str, *, object_id: str | None = None, text: str | None = None,
          media_base: str = "") -> dict:
    """One delivery of `kind` for the first matching sandbox object (or `object_id`); attachment URLs point at
    `media_base`'s /cdn (the sandbox itself), or at Meta's CDN host when not given."""
    builder = BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown sample kind {kind!r}; known: {', '.join(KINDS)}")
    return builder(_Ids(state, object_id, media_base), text)


def broken(payload: dict) -> dict:
    """The same signed envelope with every entry's item emptied: stored (200), then its events fail processing.

    Each one is told apart by a random marker, so two broken deliveries are two events, not a duplicate.
    """
    for entry in payload.get("entry", []):
        marker = "sandbox-broken-" + secrets.token_hex(6)
        for item in entry.get("messaging", []):
            for key in ("message", "reaction", "postback", "read"):
                item.pop(key, None)
            item["sandbox_broken"] = marker
        for change in entry.get("changes", []):
            change["value"] = marker
    return payload


def take_failing(state: SandboxState) -> bool:
    """Whether this delivery is one of the next N the control page asked to fail (counting it down)."""
    with state.lock:
        if getattr(state, "failing_webhooks", 0) > 0:
            state.failing_webhooks -= 1
            return True
        return False


def send(state: SandboxState, kind: str, *, url: str | None = None, object_id: str | None = None,
         text: str | None = None, media_base: str = "", timeout: float = 10.0) -> dict:
    """Build, sign and POST a sample delivery; returns what the app answered."""
    payload = build(state, kind, object_id=object_id, text=text, media_base=media_base)
    failing = take_failing(state)
    if failing:
        payload = broken(payload)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    target = url or state.webhook_url
    if not target:
        raise ValueError("the sandbox does not know the app's webhook URL")
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, state.app_secret),
               "User-Agent": "facebookexternalua"}
    try:
        response = requests.post(target, data=body, headers=headers, timeout=timeout)
        result = {"kind": kind, "url": target, "status": response.status_code, "answer": response.text[:300]}
    except requests.RequestException as exc:
        result = {"kind": kind, "url": target, "status": None, "answer": exc.__class__.__name__}
    if failing:
        result["broken"] = True
    with state.lock:
        state.sent_webhooks.append(result)
    return {**result, "payload": payload}
