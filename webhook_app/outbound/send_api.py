"""Meta's send APIs per channel and kind (SPEC 16): the call's path and JSON body, Meta's id in the answer, and
what each of Meta's refusals means for the message (retry, fail, reconnect).

Shapes from Meta's reference pages: WhatsApp Cloud API `POST /{phone-number-id}/messages` (text, media by
link, template with components, `biz_opaque_callback_data`), the Messenger and Instagram Send API
`POST /{page-id|ig-user-id}/messages` (`messaging_type`, `message.metadata` echoed back), comment replies
(`POST /{ig-comment-id}/replies`, `POST /{comment-id}/comments`) and private replies (`recipient.comment_id`).
"""
from __future__ import annotations

from dataclasses import dataclass

from webhook_app.accounts import graph

WHATSAPP_MEDIA = {"image": "image", "video": "video", "audio": "audio", "file": "document"}

# Meta's own titles for the codes the issue names (WhatsApp Cloud API error codes; Graph API error handling).
TITLES = {
    130429: "Rate limit hit", 131056: "Pair rate limit hit", 131047: "Re-engagement message",
    131026: "Message undeliverable", 132000: "Number of parameters does not match the expected number of params",
    132001: "Template does not exist", 131000: "Something went wrong", 190: "Access token expired or invalid",
    10: "Permission denied", 200: "Permission error", 131051: "Unsupported message type", 100: "Invalid parameter",
}
PACE_CODES = {130429, 131056, 4, 17, 32, 613, 80007}
RETRY_CODES = {131000, 1, 2, 131016}
REAUTH_CODE = 190


@dataclass(frozen=True)
class Call:
    path: str
    body: dict
    pace_key: str | None        # the shared pace this call counts against (webhook_app.pacing)


@dataclass(frozen=True)
class Outcome:
    """What a refusal means: retry (after backoff; `pace` also slows the key), fail, or reconnect and fail."""

    action: str                 # retry, fail, reauth
    error: dict                 # {"code", "title", "message"}
    pace: bool = False


def call_for(row: dict) -> Call:
    """The send call for a claimed outbound message."""
    body, channel, kind, ours = row["body"], row["channel"], row["kind"], str(row["id"])
    if channel == "whatsapp":
        return Call(f"/{row['account_id']}/messages", _whatsapp(row["recipient"], body, kind, ours),
                    f"whatsapp:{row['account_id']}")
    pace = f"instagram:{row['account_id']}" if channel == "instagram" else None
    if kind == "comment_reply":
        edge = "replies" if channel == "instagram" else "comments"
        return Call(f"/{body['comment_id']}/{edge}", {"message": body["text"]}, pace)
    recipient = {"comment_id": body["comment_id"]} if kind == "private_reply" else {"id": row["recipient"]}
    if body.get("attachment"):
        message = {"attachment": {"type": body["attachment"]["type"],
                                  "payload": {"url": body["attachment"]["url"], "is_reusable": False}}}
    else:
        message = {"text": body["text"]}
    message["metadata"] = ours   # echoed back: the echo names this message even before our call returns
    call = {"recipient": recipient, "message": message}
    if channel == "messenger":
        call = {"messaging_type": "RESPONSE", **call}
    return Call(f"/{row['account_id']}/messages", call, pace)


def _whatsapp(to: str, body: dict, kind: str, ours: str) -> dict:
    out = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if kind == "template":
        template = body["template"]
        sent = {"name": template["name"], "language": {"code": template["language"]}}
        if template["variables"]:
            sent["components"] = [{"type": "body", "parameters": [{"type": "text", "text": v}
                                                                  for v in template["variables"]]}]
        out.update(type="template", template=sent)
    elif kind == "attachment":
        media_type = WHATSAPP_MEDIA[body["attachment"]["type"]]
        media = {"link": body["attachment"]["url"]}
        if body.get("text"):
            media["caption"] = body["text"]
        out.update({"type": media_type, media_type: media})
    else:
        out.update(type="text", text={"preview_url": False, "body": body["text"]})
    out["biz_opaque_callback_data"] = ours   # every status webhook of this message carries it back
    return out


def external_id(channel: str, kind: str, answer: dict) -> str | None:
    """Meta's id of the message in a send call's answer."""
    if channel == "whatsapp":
        messages = answer.get("messages") if isinstance(answer, dict) else None
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        return str(first["id"]) if first.get("id") else None
    if kind == "comment_reply":
        return str(answer["id"]) if isinstance(answer, dict) and answer.get("id") else None
    return str(answer["message_id"]) if isinstance(answer, dict) and answer.get("message_id") else None


def _code(exc: graph.GraphError) -> int | None:
    try:
        return int(exc.code) if exc.code is not None else None
    except (TypeError, ValueError):
        return None


def outcome(exc: graph.GraphError) -> Outcome:
    """What Meta's refusal of a send means for the message."""
    code = _code(exc)
    error = {"code": code, "title": TITLES.get(code) or _fallback_title(exc), "message": exc.message}
    if code == REAUTH_CODE or (code is None and isinstance(exc, graph.ReauthorizationRequired)):
        return Outcome("reauth", error)
    if code in PACE_CODES or isinstance(exc, graph.RateLimited):
        return Outcome("retry", error, pace=True)
    if code in RETRY_CODES or isinstance(exc, graph.Transient) or (exc.status or 0) >= 500:
        return Outcome("retry", error)
    return Outcome("fail", error)


def _fallback_title(exc: graph.GraphError) -> str:
    if isinstance(exc, graph.Transient):
        return "Meta could not be reached"
    return "Meta refused the message"
