"""The webhook processor: worker threads that claim events from the queue and run the handlers.

`run_once` drains what is due and returns (the systemd timer); `run_follow` stays up, woken by
LISTEN/NOTIFY within milliseconds of the receiver's commit, polls as a fallback (and for retries
that fall due), extends the leases of the events it holds, returns the events of dead workers to
the queue, and stops cleanly when `stop_requested` is set.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from webhook_app.config import Settings
from webhook_app.db import Database
from webhook_app.db.listen import Notifications
from webhook_app.exceptions import DatabaseError, DatabaseUnavailable
from webhook_app.webhooks import event_queue as queue
from webhook_app.webhooks import handlers

log = logging.getLogger(__name__)

# pg_notify('webhook_events', ...) is sent by intake (only while a worker naps) and by a manual retry.
CHANNEL = "webhook_events"
RECLAIM_EVERY = 1.0      # seconds between checks for expired leases
SUPERVISE_EVERY = 1.0    # seconds between checks that every thread of follow mode is alive
PROGRESS_EVERY = 10.0    # seconds between progress lines while busy
DB_RETRY_PAUSE = 2.0     # seconds to wait after the database went away
NAP_AT_LEAST = 0.05      # shorter waits are not recorded as naps: the worker looks again at once anyway
NAP_MARGIN = 1.0         # a nap is recorded this much longer than the wait, for the clocks' and the loop's slack


@dataclass
class Totals:
    processed: int = 0
    failed: int = 0
    dead_letter: int = 0
    lost: int = 0
    reclaimed: int = 0
    batches: int = 0

    def add(self, result: queue.BatchResult) -> None:
        self.processed += result.processed
        self.failed += result.failed
        self.dead_letter += result.dead_letter
        self.lost += result.lost
        self.batches += 1

    def line(self, seconds: float) -> str:
        rate = self.processed / seconds if seconds > 0 else 0.0
        return (f"processed={self.processed} failed={self.failed} dead_letter={self.dead_letter} "
                f"reclaimed={self.reclaimed} lost_leases={self.lost} batches={self.batches} "
                f"in {seconds:.2f}s ({rate:.0f} events/s)")


class Processor:
    """N worker threads over the queue, plus (in follow mode) a listener and a lease keeper."""

    def __init__(self, settings: Settings, *, workers: int = 2, batch_size: int = 100,
                 poll_interval: float = 1.0, handle: queue.Handler = handlers.dispatch):
        self.settings = settings
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.handle = handle
        self.lease = settings.webhook_lease_seconds
        self.db = Database(settings.database_url, maxconn=workers + 2, application_name="process-webhooks")
        self._prefix = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.names = [f"{self._prefix}:{n}" for n in range(workers)]
        self._restarts = 0
        self.stop_requested = threading.Event()
        self._wakes = [threading.Event() for _ in self.names]
        self._lock = threading.Lock()
        self.totals = Totals()
        self._last_reclaim = 0.0
        self.error: Exception | None = None

    # -- the work --------------------------------------------------------------------------
    def _reclaim(self) -> None:
        with self._lock:
            if time.monotonic() - self._last_reclaim < RECLAIM_EVERY:
                return
            self._last_reclaim = time.monotonic()
        reclaimed = queue.reclaim_expired(self.db)
        with self._lock:
            self.totals.reclaimed += reclaimed

    def _one_batch(self, name: str) -> int:
        """Claim and handle one batch; return how many events were claimed."""
        self._reclaim()
        events = queue.claim(self.db, name, self.batch_size, self.lease)
        if events:
            result = queue.process(self.db, name, events, self.handle, self.settings.webhook_retry_delays)
            with self._lock:
                self.totals.add(result)
            log.debug("%s: batch of %d: %d processed, %d failed", name, len(events), result.processed,
                      len(result.errors))
        return len(events)

    def _drain(self, name: str) -> None:
        try:
            while not self.stop_requested.is_set() and self._one_batch(name):
                pass
        except Exception as exc:  # reported by run_once; the other workers finish their batches
            self.error = exc
            self.stop_requested.set()

    def _follow(self, index: int) -> None:
        name, wake = self.names[index], self._wakes[index]
        while not self.stop_requested.is_set():
            wake.clear()  # a notification from here on wakes the wait below
            try:
                if self._one_batch(name):
                    continue
                due = queue.seconds_until_due(self.db)
            except DatabaseUnavailable as exc:
                log.error("%s: database unavailable (%s); retrying in %.0fs", name, exc, DB_RETRY_PAUSE)
                self.stop_requested.wait(DB_RETRY_PAUSE)
                continue
            except Exception:  # a bug must not silently take a worker away; its events come back by lease
                log.exception("%s: unexpected error; going on in %.0fs", name, DB_RETRY_PAUSE)
                self.stop_requested.wait(DB_RETRY_PAUSE)
                continue
            # Due but not claimable means another worker is taking it right now: a short nap, no spin.
            pause = self.poll_interval if due is None else min(self.poll_interval, max(due, 0.01))
            if pause >= NAP_AT_LEAST and self._nap(name, pause):
                continue
            wake.wait(pause)

    def _nap(self, name: str, pause: float) -> bool:
        """Record the nap (the intake NOTIFYs only while one is recorded), then look once more; True if work came.

        The intake reads the naps after its commit: a batch committed before this nap was recorded is
        found by this second look, one committed after it is announced.
        """
        try:
            queue.nap(self.db, name, pause + NAP_MARGIN)
            return self._one_batch(name) > 0
        except DatabaseUnavailable:
            return False  # the wait below, then the loop's own handling of the outage

    def _keep_leases(self) -> None:
        """Extend this process's leases at a third of their length, so only a dead worker loses them."""
        while not self.stop_requested.wait(self.lease / 3):
            try:
                queue.extend_leases(self.db, self.names, self.lease)
            except DatabaseError as exc:  # this thread must outlive any database trouble
                log.error("could not extend leases: %s", exc)
            except Exception:  # and any bug: without it every lease of this process would run out
                log.exception("could not extend leases")

    def _listen(self, threads: list[threading.Thread]) -> None:
        """Wake the workers on every NOTIFY, and restart any thread that died, until a stop is requested."""
        notifications = Notifications(self.settings.listen_url, CHANNEL, self.stop_requested,
                                      "process-webhooks-listen", retry_pause=DB_RETRY_PAUSE)
        try:
            while not self.stop_requested.is_set():
                if notifications.wait(SUPERVISE_EVERY):
                    self._wake_all()
                self._supervise(threads)
        finally:
            notifications.close()

    def _supervise(self, threads: list[threading.Thread]) -> None:
        """A thread that ended (a handler raised SystemExit, a bug outside the loops' guards) starts again.

        A worker comes back under a new name: the events its old name held are not extended any more,
        so they return to the queue when their lease runs out instead of staying 'processing' forever.
        """
        for position, thread in enumerate(threads):
            if thread.is_alive() or self.stop_requested.is_set():
                continue
            self._restarts += 1
            if thread.name in self.names:
                index = self.names.index(thread.name)
                self.names[index] = f"{self._prefix}:{index}.{self._restarts}"
                replacement = threading.Thread(target=self._follow, args=(index,), name=self.names[index],
                                               daemon=True)
            else:
                replacement = threading.Thread(target=getattr(self, f"_{thread.name}"), name=thread.name,
                                               daemon=True)
            log.error("thread %s died; restarted as %s", thread.name, replacement.name)
            threads[position] = replacement
            replacement.start()

    def _wake_all(self) -> None:
        for wake in self._wakes:
            wake.set()

    # -- the two modes ---------------------------------------------------------------------
    def run_once(self) -> Totals:
        """Drain every event due now with all workers, then return."""
        started = time.monotonic()
        threads = [threading.Thread(target=self._drain, args=(name,), name=name) for name in self.names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log.info("run finished (once): %s", self.totals.line(time.monotonic() - started))
        if self.error is not None:
            raise self.error
        return self.totals

    def run_follow(self) -> Totals:
        """Process events as they arrive until a stop is requested."""
        started = time.monotonic()
        log.info("following the queue: %d worker(s), batch size %d, lease %.1fs, poll every %.1fs",
                 len(self.names), self.batch_size, self.lease, self.poll_interval)
        threads = [threading.Thread(target=self._follow, args=(i,), name=name, daemon=True)
                   for i, name in enumerate(self.names)]
        threads.append(threading.Thread(target=self._keep_leases, name="keep_leases", daemon=True))
        threads.append(threading.Thread(target=self._progress, name="progress", daemon=True))
        for thread in threads:
            thread.start()
        self._listen(threads)
        self._wake_all()
        for thread in threads:
            thread.join(self.lease)  # a batch in hand is finished, not abandoned
        log.info("run finished (follow): %s", self.totals.line(time.monotonic() - started))
        return self.totals

    def _progress(self) -> None:
        last = 0
        while not self.stop_requested.wait(PROGRESS_EVERY):
            with self._lock:
                done = self.totals.processed + self.totals.failed + self.totals.dead_letter
            if done != last:
                log.info("progress: %d handled in the last %.0fs (%d in all)", done - last, PROGRESS_EVERY, done)
                last = done

    def close(self) -> None:
        self.db.close()


