"""Webhook intake: check Meta's signature, read the envelope, store a delivery and its events."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

import psycopg2

from .db import Database, execute

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_OBJECT = re.compile(r"[a-z_]{1,64}")  # instagram, page, whatsapp_business_account, ...


class InvalidSignature(ValueError):
    """The X-Hub-Signature-256 header is missing, malformed, of another algorithm or wrong."""


class InvalidEnvelope(ValueError):
    """The body is signed but is not a Meta webhook envelope; the message says why."""


@dataclass(frozen=True)
class Envelope:
    object: str
    entry_count: int
    text: str  # the body as UTF-8 text; PostgreSQL splits it into events


@dataclass(frozen=True)
class Stored:
    duplicate: bool
    events: int = 0
    unknown_owner: int = 0


def verify_signature(raw: bytes, header: str | None, app_secret: str) -> None:
    """Raise InvalidSignature unless header is the HMAC-SHA256 of the raw bytes (constant time)."""
    found = _SIGNATURE.fullmatch((header or "").strip())
    if not found or not app_secret:
        raise InvalidSignature("missing or malformed X-Hub-Signature-256")
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, found.group(1).lower()):
        raise InvalidSignature("signature does not match")


def _reject_constant(name: str):
    raise InvalidEnvelope(f"{name} is not valid JSON")


def parse_envelope(raw: bytes) -> Envelope:
    """Read the body as Meta's envelope {"object": str, "entry": [{...}, ...]} or raise InvalidEnvelope."""
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, InvalidEnvelope):
            raise
        raise InvalidEnvelope("body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("object"), str) or not _OBJECT.fullmatch(data["object"]):
        raise InvalidEnvelope("body has no 'object' naming a Meta object")
    entries = data.get("entry")
    if not isinstance(entries, list) or not all(isinstance(item, dict) for item in entries):
        raise InvalidEnvelope("body has no 'entry' list of objects")
    return Envelope(object=data["object"], entry_count=len(entries), text=text)


def store(db: Database, raw: bytes, envelope: Envelope) -> Stored:
    """Store the delivery and one pending event per entry, committed before returning."""
    digest = hashlib.sha256(raw).digest()
    try:
        with db.connection() as conn, conn.cursor() as cur:
            execute(cur, "store_delivery", body_sha256=digest, object=envelope.object,
                    entry_count=envelope.entry_count, body=envelope.text)
            row = cur.fetchone()
            if row is None:
                execute(cur, "count_duplicate_delivery", body_sha256=digest)
                return Stored(duplicate=True)
            delivery_id, events, unknown = row
            execute(cur, "store_delivery_app_health", delivery_id=delivery_id, events=events,
                    unknown_owner=unknown)
    except psycopg2.DataError:
        # JSON that Python reads but PostgreSQL's jsonb refuses (a \u0000, a lone surrogate).
        raise InvalidEnvelope("body holds text PostgreSQL cannot store") from None
    return Stored(duplicate=False, events=events, unknown_owner=unknown)


def mark_verified(db: Database) -> None:
    db.run("mark_webhook_verified")
