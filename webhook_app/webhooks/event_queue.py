"""The webhook event queue in webhook_events (SPEC 8): claim, lease, complete, fail, reclaim, retry.

A worker claims due events in one statement
(`FOR UPDATE SKIP LOCKED`, marked processing with a lease), then handles them in a second
transaction that first row-locks the events it still holds: an event whose lease ran out and was
taken by someone else is skipped, so a slow worker can never handle an event twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

from webhook_app.db import Database, Transaction
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.webhooks import live

log = logging.getLogger(__name__)

# A retry's due time varies by up to this fraction either way, so retries do not arrive in step.
RETRY_JITTER = 0.1
# An event whose worker died this many times is set aside as dead_letter: it may be what kills them.
LOST_LEASE_LIMIT = 10
MAX_ERROR_LENGTH = 500


class PermanentFailure(ValueError):
    """A handler's error that no retry can cure (the payload lacks what it needs): dead letter at once."""


@dataclass(frozen=True)
class Event:
    id: int
    user_id: int | None
    object: str
    field: str | None
    entry_id: str | None
    payload: dict
    attempts: int


@dataclass
class BatchResult:
    processed: int = 0
    failed: int = 0
    dead_letter: int = 0
    lost: int = 0  # held by this worker at claim time, but its lease had gone to someone else
    errors: dict[int, str] = field(default_factory=dict)


Handler = Callable[[object, Event], "str | None"]


def claim(db: Database, worker: str, batch_size: int, lease_seconds: float) -> list[Event]:
    """Take up to batch_size due events for this worker, leased for lease_seconds (one round trip: no BEGIN/COMMIT)."""
    rows = db.statement_rows("claim_webhook_events", worker=worker, batch_size=batch_size, lease_seconds=lease_seconds)
    return sorted((Event(*row) for row in rows), key=lambda e: e.id)


def extend_leases(db: Database, workers: Sequence[str], lease_seconds: float) -> int:
    """Push back the lease of every event these live workers hold."""
    return db.run("extend_webhook_leases", workers=list(workers), lease_seconds=lease_seconds)


def reclaim_expired(db: Database) -> int:
    """Return events of workers that stopped extending their lease to the queue."""
    rows = db.all("reclaim_expired_webhook_leases", lost_lease_limit=LOST_LEASE_LIMIT)
    if rows:
        log.warning("reclaimed %d event(s) whose worker's lease expired", len(rows))
    return len(rows)


def nap(db: Database, worker: str, seconds: float) -> None:
    """Record that this follower waits up to `seconds`, so the intake wakes it (and only then NOTIFYs).

    Recording waits for the intake statements under way (migration 0160's handshake), a few milliseconds;
    past the lock timeout (set_nap_lock_timeout) nothing is recorded and DatabaseUnavailable is raised, as
    for an outage: the caller's wait then ends by its poll.
    """
    with db.transaction() as tx:
        tx.one("set_nap_lock_timeout")
        tx.run("record_webhook_processor_nap", worker=worker, seconds=seconds)


def seconds_until_due(db: Database) -> float | None:
    """Seconds until the next pending or failed event is due (<= 0: now; None: queue empty)."""
    row = db.one("seconds_until_next_webhook_event")
    return row["seconds"] if row else None


def retry(db: Database, event_id: int, user_id: int) -> bool:
    """Put a user's failed or dead-letter event back in the queue now; False if there is no such event."""
    return db.one("retry_webhook_event", event_id=event_id, user_id=user_id) is not None


def error_message(exc: BaseException) -> str:
    """What is kept on the event: the error's type and message, bounded (handlers put no secrets there)."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{exc.__class__.__name__}: {text}"[:MAX_ERROR_LENGTH]


def process(db: Database, worker: str, events: Sequence[Event], handle: Handler,
            retry_delays: Sequence[float]) -> BatchResult:
    """Handle claimed events and record the outcome, in one transaction with the handlers' writes."""
    if not events:
        return BatchResult()
    result = _process_batch(db, worker, events, handle, retry_delays)
    # After the commit, not in it: open dashboards learn of the outcome (web/stream.py).
    live.announce(db, "events", (e.user_id for e in events))
    return result


def _process_batch(db: Database, worker: str, events: Sequence[Event], handle: Handler,
                   retry_delays: Sequence[float]) -> BatchResult:
    try:
        with db.transaction() as tx:  # fast path: no savepoints while every handler succeeds
            return _process(tx, worker, events, handle, retry_delays, isolated=False)
    except DatabaseUnavailable:
        raise
    except Exception:
        pass  # one handler failed and the batch was rolled back: redo it, each event behind a savepoint
    with db.transaction() as tx:
        return _process(tx, worker, events, handle, retry_delays, isolated=True)


def _process(tx: Transaction, worker: str, events: Sequence[Event], handle: Handler,
             retry_delays: Sequence[float], isolated: bool) -> BatchResult:
    result = BatchResult()
    held = _lock_held(tx, worker, events)
    notes: dict[int, str | None] = {}
    permanent: set[int] = set()
    # A handler may gather its writes, take the locks they need (`begin`) and send them at once (`finish`), or drop
    # them (`discard`).
    finish, discard = getattr(handle, "finish", None), getattr(handle, "discard", None)
    begin = getattr(handle, "begin", None)
    if begin and held and (isolated or not finish):
        begin(tx, held)  # each event's writes go in behind its own savepoint: the locks come before the first
    for event in held:
        if not isolated:
            notes[event.id] = handle(tx, event)
            continue
        try:
            with tx.savepoint():
                note = handle(tx, event)
                if finish:
                    finish(tx)
            notes[event.id] = note  # only once its writes are in: a failing finish fails the event
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if discard:
                discard(tx)
            if isinstance(exc, PermanentFailure):
                permanent.add(event.id)
            result.errors[event.id] = error_message(exc)
            log.warning("event %d (%s/%s) attempt %d failed: %s", event.id, event.object,
                        event.field, event.attempts, result.errors[event.id])
    result.lost = len(events) - len(held)
    if notes:
        result.processed = tx.run("complete_webhook_events", worker=worker, ids=list(notes),
                                  notes=list(notes.values()))
    if finish and not isolated and held:
        # Last, and the locks only now: two workers writing one user's conversations take turns, and a turn is
        # only as long as the writes (the handlers' Python and the events' completion ran before it).
        if begin:
            begin(tx, held)
        finish(tx)
    if result.errors:
        for row in tx.all("fail_webhook_events", worker=worker, ids=list(result.errors),
                          messages=list(result.errors.values()), permanent=[i in permanent for i in result.errors],
                          delays=[float(d) for d in retry_delays],
                          jitter=RETRY_JITTER):
            if row["status"] == "dead_letter":
                result.dead_letter += 1
            else:
                result.failed += 1
    _record_health(tx, held, notes, result.errors)
    return result


def _lock_held(tx: Transaction, worker: str, events: Sequence[Event]) -> list[Event]:
    still_mine = {row["id"] for row in tx.all("lock_claimed_webhook_events", worker=worker,
                                               ids=[e.id for e in events])}
    return [e for e in events if e.id in still_mine]


def _record_health(tx: Transaction, held: Sequence[Event], notes: dict, errors: dict[int, str]) -> None:
    """Each user's latest handler error; a batch without errors writes nothing (no per-user row to queue on)."""
    latest: dict[int, str] = {}
    for event in held:
        if event.user_id is not None and event.id in errors:
            latest[event.user_id] = errors[event.id]
    if latest:
        users = sorted(latest)
        tx.run("record_webhook_processing_errors", user_ids=users, errors=[latest[u] for u in users])
