"""GET/POST /webhook and /webhooks/whatsapp: Meta's handshake and signed deliveries (SPEC 7)."""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, current_app, request

from . import intake
from .db import get_db
from .extensions import csrf, limiter

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)
PATHS = ("/webhook", "/webhooks/whatsapp")


def _text(body: str, status: int):
    return body, status, {"Content-Type": "text/plain; charset=utf-8"}


def verify():
    """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
    settings = current_app.config["SETTINGS"]
    token = request.args.get("hub.verify_token", "")
    if (request.args.get("hub.mode") != "subscribe" or not settings.meta_verify_token
            or not hmac.compare_digest(token.encode(), settings.meta_verify_token.encode())):
        return _text("Forbidden", 403)
    intake.mark_verified(get_db())
    log.info("webhook verification handshake accepted on %s", request.path)
    return _text(request.args.get("hub.challenge", ""), 200)


def receive():
    """Check the signature, then commit the delivery and its events before answering 200."""
    settings = current_app.config["SETTINGS"]
    if request.content_length is not None and request.content_length > settings.webhook_max_body:
        return _text("Payload too large", 413)
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH without a length: 413 here
    try:
        intake.verify_signature(raw, request.headers.get("X-Hub-Signature-256"), settings.meta_app_secret)
    except intake.InvalidSignature as exc:
        log.warning("webhook refused: %s", exc)
        return _text("Invalid signature", 401)
    try:
        envelope = intake.parse_envelope(raw)
        stored = intake.store(get_db(), raw, envelope)  # DatabaseUnavailable -> 503 (errors.py)
    except intake.InvalidEnvelope as exc:
        log.warning("webhook refused: %s", exc)
        return _text(f"Bad request: {exc}", 400)
    if stored.duplicate:
        log.info("duplicate %s delivery acknowledged; nothing stored", envelope.object)
    return _text("EVENT_RECEIVED", 200)


for _path in PATHS:
    bp.add_url_rule(_path, f"verify{_path.replace('/', '_')}", verify, methods=["GET"])
    bp.add_url_rule(_path, f"receive{_path.replace('/', '_')}", receive, methods=["POST"])
csrf.exempt(bp)
limiter.exempt(bp)
