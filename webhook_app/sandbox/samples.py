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

KINDS = ("instagram_message", "instagram_comment", "instagram_mention", "page_feed",
         "whatsapp_message", "whatsapp_status", "template_status")


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


def build(state: SandboxState, kind: str, *, object_id: str | None = None, text: str | None = None) -> dict:
    """One delivery of `kind` for the first matching sandbox object (or `object_id`)."""
    now_s = int(time.time())
    now_ms = int(time.time() * 1000)
    with state.lock:
        ig_id = object_id or _first(state.instagram, lambda: new_id(17))
        page_id = object_id or _first(state.pages, new_id)
        waba = state.wabas.get(object_id or "") or _first(state.wabas.values(), lambda: None)
        waba_id = object_id or (waba.id if waba else new_id())
        phone = waba.phone_numbers[0] if waba and waba.phone_numbers else {"id": new_id(), "display_phone_number": "15550101000"}
        template = waba.templates[0] if waba and waba.templates else {"id": new_id(), "name": "sandbox_template_1",
                                                                       "language": "en_US"}
    if kind == "instagram_message":
        return {"object": "instagram", "entry": [{"time": now_ms, "id": ig_id, "messaging": [{
            "sender": {"id": new_id(16)}, "recipient": {"id": ig_id}, "timestamp": now_ms,
            "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE" + secrets.token_hex(12),
                        "text": text or "Hi! Is the shop open today?"}}]}]}
    if kind == "instagram_comment":
        return {"object": "instagram", "entry": [{"id": ig_id, "time": now_s, "changes": [{"field": "comments", "value": {
            "from": {"id": new_id(17), "username": "sandbox.customer"},
            "media": {"id": new_id(17), "media_product_type": "FEED"},
            "id": new_id(17), "text": text or "Love this! 😍"}}]}]}
    if kind == "instagram_mention":
        return {"object": "instagram", "entry": [{"id": ig_id, "time": now_s, "changes": [{"field": "mentions", "value": {
            "media_id": new_id(17), "comment_id": new_id(17)}}]}]}
    if kind == "page_feed":
        post_id = f"{page_id}_{new_id()}"
        return {"object": "page", "entry": [{"id": page_id, "time": now_s, "changes": [{"field": "feed", "value": {
            "from": {"id": new_id(), "name": "Sandbox Visitor"}, "item": "comment", "verb": "add",
            "post_id": post_id, "parent_id": post_id, "comment_id": f"{post_id.split('_')[1]}_{new_id()}",
            "created_time": now_s, "message": text or "What time do you open tomorrow?"}}]}]}
    metadata = {"display_phone_number": phone["display_phone_number"].replace(" ", "").replace("-", "").lstrip("+"),
                "phone_number_id": phone["id"]}
    if kind == "whatsapp_message":
        return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": metadata,
            "contacts": [{"profile": {"name": "Sandbox Customer"}, "wa_id": "15550001111"}],
            "messages": [{"from": "15550001111", "id": "wamid.HBgL" + secrets.token_hex(16), "timestamp": str(now_s),
                          "text": {"body": text or "Hello, I'd like to order."}, "type": "text"}]}}]}]}
    if kind == "whatsapp_status":
        return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": metadata,
            "statuses": [{"id": "wamid.HBgL" + secrets.token_hex(16), "status": "delivered", "timestamp": str(now_s),
                          "recipient_id": "15550001111",
                          "conversation": {"id": secrets.token_hex(16), "origin": {"type": "utility"}},
                          "pricing": {"billable": True, "pricing_model": "CBP", "category": "utility"}}]}}]}]}
    if kind == "template_status":
        return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "time": now_s, "changes": [{
            "field": "message_template_status_update", "value": {
                "event": "APPROVED", "message_template_id": int(template["id"]),
                "message_template_name": template["name"], "message_template_language": template["language"],
                "reason": "NONE"}}]}]}
    raise ValueError(f"unknown sample kind {kind!r}; known: {', '.join(KINDS)}")


def send(state: SandboxState, kind: str, *, url: str | None = None, object_id: str | None = None,
         text: str | None = None, timeout: float = 10.0) -> dict:
    """Build, sign and POST a sample delivery; returns what the app answered."""
    payload = build(state, kind, object_id=object_id, text=text)
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
    with state.lock:
        state.sent_webhooks.append(result)
    return {**result, "payload": payload}
