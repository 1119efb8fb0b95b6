"""Group commit: callers in several threads at once share one transaction and one disk flush.

A caller that finds no flush under way leads: it writes the queue (its own item first) in one
call, hands each caller its outcome, then promotes the next waiting caller to lead the items that
queued up meanwhile. A lone caller is written at once, and under load the batch is whatever
arrived during the previous flush.

One exception, `linger`: the callers of a big batch are answered together and come back together
(a busy receiver's connections move in a convoy). The first of them to return finds no flush under
way, and would be written alone, one statement and one disk flush for one item, while the rest of
the convoy queued behind it for the next. After a batch of at least `busy_batch` items, a caller
that finds no flush under way waits `linger` seconds first, so the convoy shares one flush. A quiet
receiver never waits: its batches are small.

Nobody is stranded: a leader that dies (an exception inside its linger or its flush, gevent's
kill, a worker timeout) hands the lead over in `finally`, and a waiter that hears nothing within
`deadline` seconds leaves the queue with DatabaseUnavailable (the receiver answers 503; Meta retries).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, Sequence, TypeVar

from webhook_app.exceptions import DatabaseUnavailable

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class _Waiter(Generic[Item, Outcome]):
    __slots__ = ("item", "wake", "lead", "outcome", "error")

    def __init__(self, item: Item):
        self.item = item
        # A plain lock, taken now and released by whoever wakes this caller: one futex wake-up,
        # none of threading.Event's condition bookkeeping, on every delivery of a busy receiver.
        self.wake = threading.Lock()
        self.wake.acquire()
        self.lead = False  # woken to lead the next batch, not with an outcome
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Outcome]):
    """Runs flush(items) -> outcomes (one per item, or an exception for that item) for batches."""

    def __init__(self, flush: Callable[[list[Item]], Sequence[Outcome | BaseException]], max_batch: int = 64,
                 linger: float = 0.0, busy_batch: int = 8, deadline: float = 10.0):
        self._flush = flush
        self.deadline = deadline
        self.max_batch = max_batch
        self.linger = linger
        self.busy_batch = busy_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leading = False  # False only while the queue is empty
        self._last_batch = 0  # size of the batch written last

    def submit(self, item: Item) -> Outcome:
        """Write item with whatever else is waiting; return its outcome or raise its error."""
        waiter: _Waiter = _Waiter(item)
        with self._lock:
            self._queue.append(waiter)
            lead = not self._leading
            self._leading = True
        if not lead and not waiter.wake.acquire(timeout=self.deadline):  # the outcome, or the lead
            self._give_up(waiter)
        if lead or waiter.lead:
            try:
                if lead and self.linger and self._last_batch >= self.busy_batch:
                    time.sleep(self.linger)  # the rest of the last batch's convoy is on its way back
            except BaseException:
                # Killed before writing anything: leave the queue and let the next caller lead.
                with self._lock:
                    if waiter in self._queue:
                        self._queue.remove(waiter)
                self._hand_over()
                raise
            self._lead(waiter)  # this waiter is at the head of the queue, so in the batch written now
        if waiter.error is not None:
            raise waiter.error
        return waiter.outcome

    def _give_up(self, waiter: _Waiter) -> None:
        """Past the deadline: leave the queue with DatabaseUnavailable, unless the outcome or the lead came meanwhile."""
        with self._lock:
            if waiter in self._queue and not waiter.lead:
                self._queue.remove(waiter)
                raise DatabaseUnavailable(f"no commit within {self.deadline:g}s (group commit)")
        if waiter.lead:
            return  # promoted just now: lead as usual
        # In a batch being written right now: its outcome follows as soon as that flush returns.
        if not waiter.wake.acquire(timeout=self.deadline):
            raise DatabaseUnavailable(f"no commit within {2 * self.deadline:g}s (group commit)")

    def _lead(self, leader: _Waiter) -> None:
        with self._lock:
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
            self._last_batch = len(batch)
        try:
            try:
                outcomes = self._flush([waiter.item for waiter in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"flush returned {len(outcomes)} outcomes for {len(batch)} items")
            except BaseException as exc:  # every caller in the batch gets the error (e.g. database down)
                outcomes = [exc] * len(batch)
            for waiter, outcome in zip(batch, outcomes):
                if isinstance(outcome, BaseException):
                    waiter.error = outcome
                else:
                    waiter.outcome = outcome
                if waiter is not leader:
                    waiter.wake.release()
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        """Wake the next waiting caller to lead, or mark the group idle."""
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.wake.release()
            else:
                self._leading = False
