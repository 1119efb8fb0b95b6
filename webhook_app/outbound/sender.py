"""The sender (SPEC 16): takes queued replies one at a time and calls Meta, at most once per message.

Per message: claim it and commit `sending` (one statement), wait for its pace slot (shared in PostgreSQL
by every sender), call Meta once, then record the outcome (one statement): `sent` with Meta's id, or
`failed` with Meta's code and title, or back to `queued` after a backoff for what is worth retrying (pace,
Meta down). A call with no answer is `unknown`; so is a `sending` message whose sender died (its lease
ran out): neither is ever resent on its own: a status webhook naming it, or the user, decides.
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from webhook_app import pacing
from webhook_app.accounts import graph
from webhook_app.config import Settings
from webhook_app.db import Database
from webhook_app.db.listen import Notifications
from webhook_app.exceptions import DatabaseUnavailable, TransactionConflict, UniqueViolation
from webhook_app.outbound import send_api
from webhook_app.outbound.store import WAKE_CHANNEL
from webhook_app.tokens import credentials, reauth
from webhook_app.tokens.credentials import TokenUnavailable, open_token
from webhook_app.tokens.vault import from_settings as vault_from_settings
from webhook_app.webhooks import live

log = logging.getLogger(__name__)

EXPIRE_EVERY = 1.0        # seconds between two looks for messages whose sender died
DB_RETRY_PAUSE = 2.0
MARK_SENT_ATTEMPTS = 5    # a deadlock or an echo stored at the same moment: the statement is run again


@dataclass
class Totals:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    expired: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + n)


class Sender:
    """Worker threads sending queued replies; `run_once` drains what is due, `run_follow` stays up."""

    def __init__(self, settings: Settings, *, workers: int = 1, poll_interval: float = 1.0,
                 db: Database | None = None, meta=None, instagram=None):
        self.settings = settings
        self.workers = workers
        self.poll_interval = poll_interval
        self.db = db or Database(settings.database_url, maxconn=workers + 2, application_name="send-messages")
        self._own_db = db is None
        self.vault = vault_from_settings(settings)
        # Sends are never repeated by the client: a retry is the queue's, after a backoff.
        self.meta = meta or graph.meta_client(settings, max_retries=0, timeout=(5.0, 20.0))
        self.instagram = instagram or graph.instagram_client(settings, max_retries=0, timeout=(5.0, 20.0))
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_requested = threading.Event()
        self._wake = threading.Event()
        self._last_expire = 0.0
        self._lock = threading.Lock()
        self.totals = Totals()

    # -- one message -----------------------------------------------------------------------
    def expire_leases(self, force: bool = False) -> int:
        """Messages whose sender died mid-call become `unknown` (at most every EXPIRE_EVERY seconds)."""
        with self._lock:
            if not force and time.monotonic() - self._last_expire < EXPIRE_EVERY:
                return 0
            self._last_expire = time.monotonic()
        rows = self.db.all("outbound_expire_leases", idempotent=True)
        if rows:
            log.warning("%d message(s) left `sending` by a sender that stopped: now unknown (never resent on "
                        "their own)", len(rows))
            self.totals.add("expired", len(rows))
            live.announce(self.db, "conversations", (r["user_id"] for r in rows))
        return len(rows)

    def send_one(self) -> bool:
        """Claim the oldest due message and send it; False when none is due."""
        row = self.db.one("outbound_claim", idempotent=False, worker=self.name,
                          lease_seconds=self.settings.sender_lease_seconds)
        if row is None:
            return False
        call = send_api.call_for(row)
        if call.pace_key is not None:
            # The slot reserved is used, however long the wait: a slot given up would be lost to every sender, and
            # senders putting messages back for later would push the key's next slot ever further out.
            wait = pacing.reserve(self.db, call.pace_key, self._per_second(call.pace_key))
            if wait > self.settings.sender_lease_seconds / 3:   # only when the pace was slowed down for long
                self._finish(row, "outbound_retry", error=None, delay=wait, counted="retried")
                return True
            if wait > 0:
                time.sleep(wait)
        try:
            token = open_token(self.vault, {**row, "kind": row["account_kind"], "status": row["account_status"]})
        except TokenUnavailable as exc:
            self._finish(row, "outbound_failed", counted="failed",
                         error={"code": None, "title": "Account must be reconnected", "message": str(exc)})
            return True
        # An Instagram Login account is reached at graph.instagram.com with its own token; the rest through Facebook.
        client = self.instagram if row["token_kind"] == "instagram_login" else self.meta
        try:
            answer = client.send(call.path, token, call.body)
        except graph.OutcomeUnknown as exc:
            log.warning("outbound %s: %s; its fate is unknown until a status webhook or the user says", row["id"], exc)
            self._finish(row, "outbound_unknown", counted="unknown",
                         error={"code": None, "title": "No answer from Meta", "message": exc.message})
            return True
        except graph.GraphError as exc:
            self._refused(row, call, exc)
            return True
        external_id = send_api.external_id(row["channel"], row["kind"], answer)
        if external_id is None:
            self._finish(row, "outbound_unknown", counted="unknown",
                         error={"code": None, "title": "Meta's answer named no message", "message": str(answer)[:300]})
            return True
        self._mark_sent(row, external_id)
        return True

    def _per_second(self, key: str) -> float:
        if key.startswith("whatsapp:"):
            return self.settings.whatsapp_messages_per_second
        return self.settings.instagram_calls_per_second

    def _mark_sent(self, row: dict, external_id: str) -> None:
        # Two races end in a rolled-back statement that is safe to run again: an echo of it being stored at that very
        # moment (committed now, it is folded in this time), and a status webhook for it taking the same rows in the
        # other order (PostgreSQL breaks the deadlock by rolling one side back).
        for attempt in range(MARK_SENT_ATTEMPTS):
            try:
                self.db.one("outbound_sent", idempotent=False, id=row["id"], external_id=external_id)
                break
            except (UniqueViolation, TransactionConflict):
                if attempt == MARK_SENT_ATTEMPTS - 1:
                    raise
        self.totals.add("sent")
        live.announce(self.db, "conversations", [row["user_id"]])

    def _refused(self, row: dict, call: send_api.Call, exc: graph.GraphError) -> None:
        outcome = send_api.outcome(exc)
        if outcome.action == "reauth":
            reason = reauth.for_error(row["account_kind"], exc)
            if row["credential_id"] is not None:
                credentials.flag_for_reauth(self.db, row["credential_id"], reason)
            self._finish(row, "outbound_failed", counted="failed", error={**outcome.error, "message": reason})
            return
        if outcome.action == "retry" and row["attempts"] < self.settings.sender_max_attempts:
            delay = self._backoff(row["attempts"])
            if outcome.pace and call.pace_key is not None:
                delay = max(0.2, pacing.slow_down(self.db, call.pace_key, 1.0))   # every sender on this key slows
            self._finish(row, "outbound_retry", error=outcome.error, delay=delay, counted="retried")
            return
        self._finish(row, "outbound_failed", counted="failed", error=outcome.error)

    def _backoff(self, attempts: int) -> float:
        delays = self.settings.sender_retry_delays or (1.0,)
        base = delays[min(attempts, len(delays)) - 1]
        return base * (0.75 + random.random() / 2)   # jitter: many messages do not come back in step

    def _finish(self, row: dict, query: str, *, counted: str, error: dict | None, delay: float | None = None) -> None:
        params = {"id": row["id"], "error": json.dumps(error) if error is not None else None}
        if delay is not None:
            params["delay"] = delay
        self.db.one(query, idempotent=False, **params)
        self.totals.add(counted)
        live.announce(self.db, "conversations", [row["user_id"]])

    # -- the loops -------------------------------------------------------------------------
    def run_once(self) -> Totals:
        """Send everything due now (with every worker), then return."""
        self.expire_leases(force=True)
        threads = [threading.Thread(target=self._drain, name=f"{self.name}:{n}") for n in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.totals

    def _drain(self) -> None:
        while not self.stop_requested.is_set() and self.send_one():
            pass

    def run_follow(self) -> None:
        """Stay up: wake on NOTIFY outbound_messages, else poll; stop when `stop_requested` is set."""
        threads = [threading.Thread(target=self._follow, name=f"{self.name}:{n}", daemon=True)
                   for n in range(self.workers)]
        for thread in threads:
            thread.start()
        notifications = Notifications(self.settings.listen_url, WAKE_CHANNEL, self.stop_requested,
                                      "send-messages-listen", retry_pause=DB_RETRY_PAUSE)
        # The same words as the processor's: tests and operators wait for "following the queue".
        log.info("following the queue of outbound messages: %d worker(s), lease %.0fs, poll every %.1fs (%s)",
                 self.workers, self.settings.sender_lease_seconds, self.poll_interval, self.name)
        try:
            while not self.stop_requested.is_set():
                if notifications.wait(self.poll_interval):
                    self._wake.set()
        finally:
            notifications.close()
            for thread in threads:
                thread.join(timeout=30)
        log.info("sender %s stopped: %s", self.name, self.totals)

    def _follow(self) -> None:
        while not self.stop_requested.is_set():
            self._wake.clear()
            try:
                self.expire_leases()
                if self.send_one():
                    continue
                due = self.db.one("outbound_next_due", idempotent=True)["due"]
            except DatabaseUnavailable as exc:
                log.error("sender: database unavailable (%s); retrying in %.0fs", exc, DB_RETRY_PAUSE)
                self.stop_requested.wait(DB_RETRY_PAUSE)
                continue
            except Exception:   # a bug must not take the worker away; what it held comes back as unknown
                log.exception("sender: unexpected error; going on in %.0fs", DB_RETRY_PAUSE)
                self.stop_requested.wait(DB_RETRY_PAUSE)
                continue
            pause = self.poll_interval
            if due is not None:
                pause = min(pause, max(0.01, (due - datetime.now(timezone.utc)).total_seconds()))
            self._wake.wait(pause)

    def close(self) -> None:
        if self._own_db:
            self.db.close()

