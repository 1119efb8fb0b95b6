"""Webhook intake: check Meta's signature, read the envelope, store a delivery and its events."""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass

from webhook_app.db import Database
from webhook_app.exceptions import DatabaseUnavailable, InvalidData
from webhook_app.webhooks.group_commit import GroupCommit

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


@functools.lru_cache(maxsize=4)
def _keyed_mac(app_secret: str) -> hmac.HMAC:
    """The HMAC state after the key, made once per secret and copied for each body (never updated itself).

    A one-shot hmac.digest() sets the key up again on every call; with OpenSSL 3 that setup (fetching
    the algorithm) cost more than hashing a delivery's body (docs/BENCHMARKS.md, intake).
    """
    return hmac.new(app_secret.encode(), digestmod=hashlib.sha256)


def verify_signature(raw: bytes, header: str | None, app_secrets: str | tuple[str, ...]) -> None:
    """Raise InvalidSignature unless header is the HMAC-SHA256 of the raw bytes with one of the secrets.

    Two secrets while the app secret is rotated at Meta (SPEC 7): each is compared in constant time,
    and both are always tried, so the answer's timing does not tell which one matched.
    """
    secrets = (app_secrets,) if isinstance(app_secrets, str) else app_secrets
    found = _SIGNATURE.fullmatch((header or "").strip())
    if not found or not any(secrets):
        raise InvalidSignature("missing or malformed X-Hub-Signature-256")
    given = bytes.fromhex(found.group(1))
    matched = False
    for secret in secrets:
        mac = _keyed_mac(secret).copy()
        mac.update(raw)
        matched |= hmac.compare_digest(mac.digest(), given)
    if not matched:
        raise InvalidSignature("signature does not match")


def _reject_constant(name: str):
    raise InvalidEnvelope(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one for all calls: json.loads makes one each time


def parse_envelope(raw: bytes) -> Envelope:
    """Read the body as Meta's envelope {"object": str, "entry": [{...}, ...]} or raise InvalidEnvelope."""
    try:
        text = raw.decode("utf-8")
        data = _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, InvalidEnvelope):
            raise
        raise InvalidEnvelope("body is not JSON") from None
    except RecursionError:  # signed, but nested deeper than any envelope Meta sends: refused, not a 500
        raise InvalidEnvelope("body is nested too deeply") from None
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
    request: str = '{"headers": {}}'  # JSON {"headers": {...}, "remote_addr": ...}: how it came (request_json)


# The request headers kept with each delivery (shown with its events): what says who sent it and how. Meta signs
# with X-Hub-Signature-256 (and the older SHA-1 X-Hub-Signature); the signature is no secret (it proves only these
# bytes, stored anyway) and helps to see why a delivery was refused or sent twice. Cookies, Authorization and the
# like are never kept. WSGI environ name -> header name.
DELIVERY_HEADERS = (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length"),
                    ("HTTP_USER_AGENT", "User-Agent"), ("HTTP_X_HUB_SIGNATURE_256", "X-Hub-Signature-256"),
                    ("HTTP_X_HUB_SIGNATURE", "X-Hub-Signature"), ("HTTP_X_FORWARDED_FOR", "X-Forwarded-For"))
_PREFIXED = ("HTTP_X_META_", "HTTP_X_FB_")  # any X-Meta-* or X-FB-* header Meta adds
MAX_HEADER_VALUE = 512  # characters kept of each value
MAX_PREFIXED = 8  # X-Meta-* / X-FB-* headers kept at most


def request_json(environ) -> str:
    """The headers worth keeping (DELIVERY_HEADERS) and the peer's address, as JSON text for store()."""
    headers = {}
    for key, name in DELIVERY_HEADERS:
        value = environ.get(key)
        if value:
            headers[name] = value[:MAX_HEADER_VALUE].replace("\x00", "")  # jsonb refuses NUL
    prefixed = 0
    for key, value in environ.items():
        if key.startswith(_PREFIXED) and prefixed < MAX_PREFIXED and isinstance(value, str):
            headers[key[5:].replace("_", "-").title()] = value[:MAX_HEADER_VALUE].replace("\x00", "")  # X-Meta-Foo
            prefixed += 1
    return json.dumps({"headers": headers, "remote_addr": environ.get("REMOTE_ADDR")})


class Intake:
    """Stores deliveries, committed (durably) before store() returns.

    Deliveries arriving together in one worker share one statement and one commit (group commit):
    with a commit per delivery, the commits, not the HTTP, would set the receiver's pace. The
    statement locks no row that another batch needs (no shared counters), so any number of
    receivers on any number of hosts commit side by side.
    """

    SUMMARY_SECONDS = 10.0  # at most one INFO line per this many seconds: a line per commit flooded the journal
    _clock = staticmethod(time.monotonic)

    LINGER_SECONDS = 0.001  # see GroupCommit: under load, the first caller back waits this long for the rest

    def __init__(self, db: Database, max_batch: int = 64):
        self.db = db
        self._batches: GroupCommit[_Delivery, Stored] = GroupCommit(self._store_batch, max_batch,
                                                                    linger=self.LINGER_SECONDS)
        # Since the last summary line. Only the group commit's current leader touches these, one at a time.
        self._totals = Counter()
        self._summary_at = float("-inf")  # so the first commit is logged at once

    def store(self, raw: bytes, envelope: Envelope, request: str = _Delivery.request) -> Stored:
        """Store one delivery and one pending event per entry; DatabaseUnavailable if it was not stored.

        `request` is request_json() of the delivery's request (the receiver passes it; tests may not).
        """
        return self._batches.submit(_Delivery(hashlib.sha256(raw).digest(), envelope, request))

    def _store_batch(self, deliveries: list[_Delivery]) -> list[Stored | Exception]:
        first: dict[bytes, _Delivery] = {}  # the same bytes twice in one batch: the later ones are duplicates
        for delivery in deliveries:
            first.setdefault(delivery.digest, delivery)
        try:
            # Each body is JSON already (parse_envelope read it), so joined with commas they are a JSON array.
            # Idempotent (a body stored already is a duplicate), so a connection lost mid-way is retried once.
            rows = self.db.statement_rows("store_deliveries", idempotent=True, digests=b"".join(first),
                                          bodies="[" + ",".join(d.envelope.text for d in first.values()) + "]",
                                          requests="[" + ",".join(d.request for d in first.values()) + "]")
        except InvalidData:
            # JSON that Python reads but PostgreSQL's jsonb refuses (a \u0000, a lone surrogate).
            if len(deliveries) == 1:
                return [InvalidEnvelope("body holds text PostgreSQL cannot store")]
            return [outcome for delivery in deliveries for outcome in self._store_batch([delivery])]
        stored = {bytes(row[0]) for row in rows}
        if rows and rows[0][1]:  # someone naps (read in the same statement, migration 0160)
            self._wake_processors()
        again: dict[bytes, int] = {}  # digest -> arrivals that stored nothing
        outcomes: list[Stored | Exception] = []
        for delivery in deliveries:
            if delivery.digest in stored and first[delivery.digest] is delivery:
                outcomes.append(Stored(duplicate=False, events=delivery.envelope.entry_count))
            else:
                again[delivery.digest] = again.get(delivery.digest, 0) + 1
                outcomes.append(Stored(duplicate=True))
        if again:  # rare: a statement of its own, so the usual batch's carries no duplicate bookkeeping
            try:
                self.db.statement_rows("count_duplicate_deliveries", digests=list(again), times=list(again.values()))
            except DatabaseUnavailable as exc:
                # Stored before, but not counted: those callers get 503, and Meta's retry is counted.
                outcomes = [exc if isinstance(outcome, Stored) and outcome.duplicate else outcome
                            for outcome in outcomes]
        self._count(len(rows), sum(first[digest].envelope.entry_count for digest in stored),
                    sum(again.values()))
        return outcomes

    def _wake_processors(self) -> None:
        """NOTIFY, after the commit, because a processor naps: the events are stored whatever this does."""
        try:
            self.db.statement_rows("wake_webhook_processors")
        except DatabaseUnavailable as exc:  # the processors poll as well; the deliveries are committed
            log.warning("stored deliveries, but could not wake the processors: %s", exc)

    def _count(self, stored: int, events: int, duplicates: int) -> None:
        """Add one commit to the totals; log them when the last summary is SUMMARY_SECONDS old."""
        totals = self._totals
        totals.update(commits=1, stored=stored, events=events, duplicates=duplicates)
        log.debug("stored %d deliveries in one commit (%d events); %d were already stored", stored, events, duplicates)
        now = self._clock()
        if now - self._summary_at >= self.SUMMARY_SECONDS:
            log.info("stored %d deliveries (%d events) in %d commits; %d were already stored",
                     totals["stored"], totals["events"], totals["commits"], totals["duplicates"])
            self._totals, self._summary_at = Counter(), now


def mark_verified(db: Database) -> None:
    db.run("mark_webhook_verified")
