"""Webhook intake: check Meta's signature, read the envelope, store a delivery and its events."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass

import psycopg2

from .db import Database
from .exceptions import DatabaseUnavailable
from .group_commit import GroupCommit

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
    delivery_id: int = 0
    owners: tuple[int, ...] = ()  # the owner of each event that has one


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


@dataclass(frozen=True)
class _Delivery:
    digest: bytes
    envelope: Envelope


class Intake:
    """Stores deliveries, committed (durably) before store() returns.

    Deliveries arriving at once in one worker share a transaction and its disk flush (group
    commit): with a commit per delivery, the flushes and per-statement work, not the HTTP, set
    the receiver's pace.
    """

    def __init__(self, db: Database, max_batch: int = 64):
        self.db = db
        self._batches: GroupCommit[_Delivery, Stored] = GroupCommit(self._store_batch, max_batch,
                                                                    after=self._record_health)

    def store(self, raw: bytes, envelope: Envelope) -> Stored:
        """Store one delivery and one pending event per entry; DatabaseUnavailable if it was not stored."""
        return self._batches.submit(_Delivery(hashlib.sha256(raw).digest(), envelope))

    def _store_batch(self, deliveries: list[_Delivery]) -> list[Stored | Exception]:
        first = {}  # identical bytes twice in one batch: the first is the delivery, the rest duplicates
        for delivery in deliveries:
            first.setdefault(delivery.digest, delivery)
        try:
            rows = self.db.statement_rows(
                "store_deliveries", digests=list(first), objects=[d.envelope.object for d in first.values()],
                entry_counts=[d.envelope.entry_count for d in first.values()],
                bodies=[d.envelope.text for d in first.values()])
        except psycopg2.DataError:
            # JSON that Python reads but PostgreSQL's jsonb refuses (a \u0000, a lone surrogate).
            if len(deliveries) == 1:
                return [InvalidEnvelope("body holds text PostgreSQL cannot store")]
            return [outcome for delivery in deliveries for outcome in self._store_batch([delivery])]
        stored = {bytes(row["body_sha256"]): row for row in rows}
        outcomes: list[Stored | Exception] = []
        for delivery in deliveries:
            row = stored.get(delivery.digest)
            if row is not None and first[delivery.digest] is delivery:
                outcomes.append(Stored(duplicate=False, events=row["events"], unknown_owner=row["unknown_owner"],
                                       delivery_id=row["delivery_id"], owners=tuple(row["user_ids"])))
            else:
                outcomes.append(Stored(duplicate=True))
        return outcomes

    def _record_health(self, deliveries: list[_Delivery], outcomes: list[Stored | Exception]) -> None:
        """Count a written batch in the health records and wake the processors (after its callers got their 200)."""
        owners: dict[int, int] = {}
        duplicates: dict[bytes, int] = {}
        rows = []
        for delivery, outcome in zip(deliveries, outcomes):
            if not isinstance(outcome, Stored):
                continue
            if outcome.duplicate:
                duplicates[delivery.digest] = duplicates.get(delivery.digest, 0) + 1
                continue
            rows.append(outcome)
            for user_id in outcome.owners:
                owners[user_id] = owners.get(user_id, 0) + 1
        try:
            self.db.statement(
                "record_deliveries_health", user_ids=sorted(owners), user_events=[owners[u] for u in sorted(owners)],
                duplicate_digests=sorted(duplicates), duplicate_times=[duplicates[d] for d in sorted(duplicates)],
                events=sum(row.events for row in rows), unknown_owner=sum(row.unknown_owner for row in rows),
                stored=bool(rows), last_delivery_id=max((row.delivery_id for row in rows), default=0))
        except DatabaseUnavailable as exc:
            # The deliveries are committed: they must still get their 200. Polling finds the events.
            log.warning("deliveries stored; their health counters were not updated: %s", exc)


def mark_verified(db: Database) -> None:
    db.run("mark_webhook_verified")
