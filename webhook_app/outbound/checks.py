"""What is refused before anything is queued (SPEC 16): each a 4xx with a sentence the UI shows and a reason code.

The checks read what the request asks (text, attachment, template) and what the conversation allows
(its channel's limits, the customer service window, its account's token, the template's status and
body). They never call Meta: what only Meta can refuse comes back later as a failed message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from webhook_app.tokens import credentials

# Meta's limits on a message's text (WhatsApp Cloud API text.body; Instagram and Messenger Send API).
TEXT_LIMITS = {"whatsapp": 4096, "instagram": 1000, "messenger": 2000}
# A public comment reply: Instagram's 2,200 characters, a Facebook comment's 8,000.
COMMENT_LIMITS = {"instagram": 2200, "messenger": 8000}
CAPTION_LIMIT = 1024          # WhatsApp media captions
ATTACHMENT_TYPES = ("image", "video", "audio", "file")
MAX_URL = 2000
MAX_TEMPLATE_NAME = 512
MAX_VARIABLE = 1024
WINDOW = timedelta(hours=24)                  # the customer service window, after the contact's last message
PRIVATE_REPLY_WINDOW = timedelta(days=7)      # a private reply to a comment: within 7 days of it
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
_NUL = "\x00"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")   # as message_templates/sync.py reads them


class Refusal(Exception):
    """A request refused before anything was queued: HTTP status, reason code, and the sentence the UI shows."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass(frozen=True)
class Draft:
    """What a request asks to send, checked for shape (not yet against its conversation)."""

    kind: str                        # text, attachment, template
    text: str | None = None
    attachment: dict | None = None   # {"type", "url"}
    template: dict | None = None     # {"name", "language", "variables"}

    def body(self) -> dict:
        return {"text": self.text, "attachment": self.attachment, "template": self.template}


def _text(value, what: str = "The message") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refusal(400, "invalid", f"{what} must be text.")
    if _NUL in value:
        raise Refusal(400, "invalid", f"{what} must not contain NUL characters.")
    return value if value.strip() else None


def draft(body: dict) -> Draft:
    """The request body of POST /api/conversations/<id>/messages as a Draft, or a Refusal."""
    template, attachment = body.get("template"), body.get("attachment")
    if template is not None and attachment is not None:
        raise Refusal(400, "invalid", "Send a template or an attachment, not both.")
    if template is not None:
        if not isinstance(template, dict):
            raise Refusal(400, "invalid", "'template' must be an object with a name, a language and variables.")
        name = _text(template.get("name"), "The template's name")
        language = _text(template.get("language"), "The template's language") or ""
        if not name or len(name) > MAX_TEMPLATE_NAME:
            raise Refusal(400, "template_not_found", "Choose a template.")
        if not _LANGUAGE.match(language):
            raise Refusal(400, "template_not_found", "Choose the template's language (for example en_US).")
        variables = template.get("variables", [])
        if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
            raise Refusal(400, "template_variables", "The template's variables must be a list of texts.")
        if any(_NUL in v or not v.strip() or len(v) > MAX_VARIABLE for v in variables):
            raise Refusal(400, "template_variables",
                          f"Fill in every variable of the template (at most {MAX_VARIABLE} characters each).")
        return Draft("template", template={"name": name, "language": language, "variables": variables})
    text = _text(body.get("text"))
    if attachment is not None:
        if not isinstance(attachment, dict):
            raise Refusal(400, "attachment_type", "'attachment' must be an object with a type and a URL.")
        kind = attachment.get("type")
        if kind not in ATTACHMENT_TYPES:
            raise Refusal(400, "attachment_type",
                          "This kind of attachment cannot be sent: choose an image, a video, an audio or a file.")
        url = attachment.get("url")
        parts = urlsplit(url) if isinstance(url, str) and _NUL not in url and len(url) <= MAX_URL else None
        if parts is None or parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in url):
            raise Refusal(400, "attachment_url", "The attachment needs a public https:// link to the file.")
        return Draft("attachment", text=text, attachment={"type": kind, "url": url})
    if text is None:
        raise Refusal(400, "empty", "Write a message first.")
    return Draft("text", text=text)


def account(target: dict) -> None:
    """The conversation's account is connected and its token usable."""
    if target.get("account_ref") is None:
        raise Refusal(409, "not_connected", "The account of this conversation is not connected: connect it to reply.")
    state = credentials.status({**target, "kind": target["account_kind"]})
    if state in ("needs_reauth", "inactive"):
        reason = target.get("status_reason") or "Its token can no longer be used."
        raise Refusal(409, "reauth_needed", f"Reconnect this account to reply. {reason}")


def window(target: dict, now: datetime | None = None) -> tuple[bool, datetime | None]:
    """(open, closes_at) of the conversation's customer service window."""
    last = target.get("last_inbound_at")
    if last is None:
        return False, None
    closes = last + WINDOW
    return closes > (now or datetime.now(timezone.utc)), closes


def for_conversation(target: dict, message: Draft, now: datetime | None = None) -> None:
    """A message fits this conversation: a direct one, its channel's limits, its window (WhatsApp: a template)."""
    channel = target["channel"]
    if target["thread"] != "direct":
        raise Refusal(409, "not_direct", "Reply to a comment from the comment itself.")
    if message.kind == "template" and channel != "whatsapp":
        raise Refusal(400, "template_not_found", "Templates are for WhatsApp conversations only.")
    if message.kind == "attachment" and message.text is not None:
        if channel != "whatsapp" or message.attachment["type"] == "audio":
            raise Refusal(400, "too_long", "This attachment cannot carry a caption here: send the text on its own.")
        if len(message.text) > CAPTION_LIMIT:
            raise Refusal(400, "too_long", f"A caption can be at most {CAPTION_LIMIT} characters.")
    if message.kind == "text" and len(message.text) > TEXT_LIMITS[channel]:
        raise Refusal(400, "too_long", f"A message here can be at most {TEXT_LIMITS[channel]:,} characters "
                                       f"(this one has {len(message.text):,}).")
    account(target)
    if message.kind != "template" and not window(target, now)[0]:
        if channel == "whatsapp":
            raise Refusal(409, "window_closed", "The customer last wrote more than 24 hours ago: WhatsApp only "
                                                "allows a template now. Use a template.")
        raise Refusal(409, "window_closed", "The customer last wrote more than 24 hours ago: Meta no longer lets "
                                            "you answer until they write again.")


def template(found: dict | None, wanted: dict) -> None:
    """The template exists, is APPROVED, and gets one value per variable of its body."""
    if found is None:
        raise Refusal(409, "template_not_found",
                      f"No template named {wanted['name']} in {wanted['language']}: sync the templates, or choose "
                      f"another one.")
    if found["status"] != "APPROVED":
        raise Refusal(409, "template_not_approved",
                      f"The template {found['name']} is {found['status']}: only APPROVED templates can be sent.")
    expected = len(body_variables(found))
    if len(wanted["variables"]) != expected:
        raise Refusal(400, "template_variables",
                      f"The template {found['name']} has {expected} variable{'s' if expected != 1 else ''}; "
                      f"{len(wanted['variables'])} {'were' if len(wanted['variables']) != 1 else 'was'} given.")


def body_variables(found: dict) -> list:
    """The placeholders of a stored template's body ({{1}}, {{2}} or named), in order."""
    body = (found.get("components") or {}).get("body") or {}
    return list(body.get("variables") or [])


def comment_reply(target: dict, comment: dict, text, private: bool, now: datetime | None = None) -> str:
    """A reply to a stored inbound comment: its text, checked against the channel and the private-reply window."""
    if comment["kind"] not in ("comment", "live_comment") or comment["direction"] != "inbound":
        raise Refusal(409, "not_a_comment", "Only a customer's comment can be answered this way.")
    if comment["deleted_at"] is not None:
        raise Refusal(409, "not_a_comment", "This comment was deleted.")
    text = _text(text)
    if text is None:
        raise Refusal(400, "empty", "Write a reply first.")
    channel = target["channel"]
    limit = TEXT_LIMITS[channel] if private else COMMENT_LIMITS.get(channel, 2200)
    if len(text) > limit:
        raise Refusal(400, "too_long", f"A reply here can be at most {limit:,} characters (this one has "
                                       f"{len(text):,}).")
    account(target)
    if private and comment["occurred_at"] + PRIVATE_REPLY_WINDOW <= (now or datetime.now(timezone.utc)):
        raise Refusal(409, "window_closed", "A private reply is possible only within 7 days of the comment.")
    return text


def rendered(found: dict, variables: list[str]) -> str:
    """A template's body as the customer reads it, its placeholders filled in order."""
    text = ((found.get("components") or {}).get("body") or {}).get("text") or ""
    values = dict(zip((str(name) for name in body_variables(found)), variables))
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)   # one pass: values stay as typed
