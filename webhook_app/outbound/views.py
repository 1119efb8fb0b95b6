"""JSON routes for replies (SPEC 16): send in a conversation, answer a comment, resolve an unknown send, templates."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_required

from webhook_app.db import get_db
from webhook_app.outbound import checks, reply_state, store
from webhook_app.outbound.checks import Refusal
from webhook_app.web.errors import error_response
from webhook_app.web.params import BadParameter, json_object

bp = Blueprint("outbound", __name__)
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")   # printable ASCII, no spaces


@bp.before_request
@login_required
def _require_login():
    """Every route here is the logged-in user's."""


@bp.errorhandler(Refusal)
def _refused(exc: Refusal):
    return jsonify(error=exc.message, reason=exc.reason), exc.status


def _key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.match(key):
        raise BadParameter("The Idempotency-Key header must be 1 to 200 printable ASCII characters without spaces.")
    return key


def _queued(queued: store.Queued):
    return jsonify(message=store.serialize(queued.message)), 202


@bp.post("/conversations/<int:conversation_id>/messages")
def send(conversation_id: int):
    db, user = get_db(), current_user.id
    target = store.target(db, user, conversation_id)
    if target is None:
        return error_response(404, "No such conversation.")
    key = _key()
    message = checks.draft(json_object(required=True))
    body = message.body()
    digest = store.request_hash(f"conversation:{conversation_id}", body)
    earlier = store.by_key(db, user, key, digest)
    if earlier is not None:
        return jsonify(message=store.serialize(earlier)), 202
    checks.for_conversation(target, message)
    if message.kind == "template":
        wanted = message.template
        if target["whatsapp_account_id"] is None:
            raise Refusal(409, "template_not_found", "This WhatsApp number's account has no templates.")
        found = store.template(db, user, target["whatsapp_account_id"], wanted["name"], wanted["language"])
        checks.template(found, wanted)
    shown_text = checks.rendered(found, message.template["variables"]) if message.kind == "template" else None
    shown = message.attachment["type"] if message.kind == "attachment" else message.kind
    content = {"attachments": [message.attachment]} if message.attachment else (
        {"template": message.template} if message.template else {})
    return _queued(store.queue(db, user, target, kind=message.kind, recipient=target["contact_key"], body=body,
                               key=key, digest=digest, shown_kind=shown, content=content, shown_text=shown_text))


@bp.post("/comments/<int:message_id>/replies")
def reply_to_comment(message_id: int):
    db, user = get_db(), current_user.id
    comment = store.comment(db, user, message_id)
    if comment is None:
        return error_response(404, "No such comment.")
    target = store.target(db, user, comment["conversation_id"])
    key = _key()
    body = json_object(required=True)
    private = body.get("private", False)
    if not isinstance(private, bool):
        raise BadParameter("'private' must be true or false.")
    raw = {"text": body.get("text"), "attachment": None, "template": None, "private": private}
    digest = store.request_hash(f"comment:{message_id}", raw)
    earlier = store.by_key(db, user, key, digest)
    if earlier is not None:
        return jsonify(message=store.serialize(earlier)), 202
    text = checks.comment_reply(target, comment, body.get("text"), private)
    kind = "private_reply" if private else "comment_reply"
    stored = {"text": text, "attachment": None, "template": None, "comment_id": comment["external_id"]}
    return _queued(store.queue(db, user, target, kind=kind, recipient=comment["external_id"], body=stored,
                               key=key, digest=digest, shown_kind="private_reply" if private else "comment",
                               content={"parent_id": comment["external_id"], "private": private}))


@bp.post("/outbound/<int:outbound_id>/resolve")
def resolve(outbound_id: int):
    db, user = get_db(), current_user.id
    outcome = json_object(required=True).get("outcome")
    if outcome not in ("not_sent", "sent"):
        raise BadParameter("'outcome' must be \"not_sent\" or \"sent\".")
    found = store.get(db, user, outbound_id)
    if found is None:
        return error_response(404, "No such message.")
    if found["status"] != "unknown":
        raise Refusal(409, "not_unknown", f"This message is {found['status']}: only a message whose fate is "
                                          f"unknown can be resolved.")
    resolved = store.resolve(db, user, outbound_id, outcome)
    if resolved is None:   # it moved meanwhile (a status webhook resolved it)
        raise Refusal(409, "not_unknown", "This message's fate became known meanwhile: look at it again.")
    return jsonify(message=store.serialize(resolved))


@bp.get("/conversations/<int:conversation_id>/templates")
def templates(conversation_id: int):
    db, user = get_db(), current_user.id
    target = store.target(db, user, conversation_id)
    if target is None:
        return error_response(404, "No such conversation.")
    return jsonify(templates=reply_state.templates(db, user, target))
