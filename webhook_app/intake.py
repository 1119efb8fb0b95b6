"""Webhook intake: check Meta's signature, read the envelope, store a delivery and its events."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass

import psycopg2

from .db import Database, execute
from .exceptions import DatabaseUnavailable

log = logging.getLogger(__name__)

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
    """Store the delivery and one pending event per entry, committed (durably) before returning.

    The health counters and the wake-up notification follow in a second, non-durable transaction:
    a counter shared by every delivery inside the first one would make deliveries wait for each
    other's disk flush (and NOTIFY holds a global lock through the commit).
    """
    digest = hashlib.sha256(raw).digest()
    try:
        with db.cursor() as cur:
            execute(cur, "store_delivery", body_sha256=digest, object=envelope.object,
                    entry_count=envelope.entry_count, body=envelope.text)
            row = cur.fetchone()
    except psycopg2.DataError:
        # JSON that Python reads but PostgreSQL's jsonb refuses (a \u0000, a lone surrogate).
        raise InvalidEnvelope("body holds text PostgreSQL cannot store") from None
    try:
        with db.cursor() as cur:
            execute(cur, "relax_commit")
            if row is None:
                execute(cur, "count_duplicate_delivery", body_sha256=digest)
            else:
                execute(cur, "record_delivery_health", **row)
    except DatabaseUnavailable as exc:
        # The delivery itself is committed: it must still get its 200. Polling finds the events.
        log.warning("delivery stored; its health counters were not updated: %s", exc)
    if row is None:
        return Stored(duplicate=True)
    return Stored(duplicate=False, events=row["events"], unknown_owner=row["unknown_owner"])


def mark_verified(db: Database) -> None:
    db.run("mark_webhook_verified")
