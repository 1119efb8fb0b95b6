"""A small durable job queue in PostgreSQL: enqueue from a request, run from a worker.

`enqueue` writes a row (and NOTIFYs `background_jobs` at commit); `run_due` claims due jobs one at
a time with FOR UPDATE SKIP LOCKED under a lease, runs the handler registered for the job's kind,
and marks it done, or puts it back with a growing delay until its attempts are used up.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
from typing import Any, Callable

from webhook_app.db import Database, Transaction

log = logging.getLogger(__name__)

CHANNEL = "background_jobs"
LEASE_SECONDS = 600
RETRY_DELAYS = (10, 60, 300, 1800)
RETENTION_DAYS = 7  # finished jobs are kept this long for the operator

Handler = Callable[[dict], Any]


def enqueue(target: Database | Transaction, kind: str, payload: dict, *, dedupe_key: str | None = None,
            delay: float = 0) -> int | None:
    """Queue a job in the caller's transaction (or its own); None when one is already queued."""
    row = target.one("enqueue_job", kind=kind, payload=json.dumps(payload), dedupe_key=dedupe_key, delay=float(delay))
    return None if row is None else row["id"]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_one(db: Database, handlers: dict[str, Handler], worker: str | None = None) -> dict | None:
    """Claim and run one due job; returns it with its outcome, or None when nothing is due."""
    worker = worker or worker_name()
    job = db.one("claim_job", worker=worker, lease_seconds=LEASE_SECONDS)
    if job is None:
        return None
    handler = handlers.get(job["kind"])
    try:
        if handler is None:
            raise LookupError(f"no handler for job kind {job['kind']!r}")
        handler(job["payload"])
    except Exception as exc:  # a failed job must never stop the worker
        delay = RETRY_DELAYS[min(job["attempts"], len(RETRY_DELAYS)) - 1]
        message = f"{exc.__class__.__name__}: {exc}"[:1000]
        after = db.one("retry_job", id=job["id"], worker=worker, delay=delay, error=message)
        log.warning("job %s (%s) failed on attempt %s: %s; now %s", job["id"], job["kind"], job["attempts"],
                    message, after and after["status"])
        return {**job, "outcome": "failed", "error": message}
    db.run("finish_job", id=job["id"], worker=worker)
    log.info("job %s (%s) done", job["id"], job["kind"])
    return {**job, "outcome": "done"}


def run_due(db: Database, handlers: dict[str, Handler], stop: threading.Event | None = None) -> int:
    """Run due jobs until none is left (or a stop is requested); returns how many ran."""
    count = 0
    worker = worker_name()
    while not (stop and stop.is_set()):
        if run_one(db, handlers, worker) is None:
            break
        count += 1
    return count


def prune(db: Database, days: int = RETENTION_DAYS) -> int:
    """Forget finished jobs older than `days`; returns how many went."""
    return db.run("prune_jobs", days=days)
