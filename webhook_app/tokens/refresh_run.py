"""One run of the token refresh job: claim due accounts ahead, N workers ask Meta and TikTok, one thread writes.

The workers only talk to the providers; the main thread claims more accounts before their queue runs
dry and writes what they bring back, everything that arrived together in one transaction, so no
worker waits for the database or for a batch's slowest account. After a rate-limit answer nobody
calls again until the wait is over.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from webhook_app.db import Database
from webhook_app.tokens import refresh as tokens
from webhook_app.tokens.vault import from_settings as vault_from_settings


@dataclass
class Summary:
    outcomes: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    dry_run: bool = False
    due: list[dict] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return sum(self.outcomes.values())

    @property
    def rate(self) -> float:
        return self.attempted / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        if self.dry_run:
            return f"dry run: {len(self.due)} token(s) would be refreshed; nothing was changed"
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "nothing due"
        return f"refresh done: {self.attempted} account(s) in {self.seconds:.1f}s ({self.rate:.0f}/s): {parts}"


class _Pacer:
    """Shared by the workers: after a rate-limit answer nobody calls again until the wait is over."""

    def __init__(self, max_pause: float):
        self.max_pause = max_pause
        self._until = 0.0
        self._lock = threading.Lock()

    def hold(self, seconds: float | None) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + min(self.max_pause, seconds or self.max_pause))

    def wait(self, stop: threading.Event) -> None:
        while not stop.is_set():
            left = self._until - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 1.0))


def _arrived(results: queue.Queue, most: int) -> list:
    """What the workers have handed back: waits up to a second for the first, then takes whatever is there."""
    try:
        arrived = [results.get(timeout=1.0)]
    except queue.Empty:
        return []
    while len(arrived) < most:
        try:
            arrived.append(results.get_nowait())
        except queue.Empty:
            break
    return arrived


def run(settings, *, dry_run: bool = False, concurrency: int = 4, batch: int = 200, max_pause: float = 60.0,
        progress_every: float = 10.0, stop: threading.Event | None = None, out=print,
        client_options: dict | None = None, only_kind: str | None = None,
        window: timedelta | None = None) -> Summary:
    """One run of the job; `out` receives the progress lines and the dry run's list.

    `window` (default TOKEN_REFRESH_WINDOW_DAYS) and `only_kind` narrow it: the 30-minute TikTok run is
    `only_kind="tiktok", window=timedelta(hours=1)`.
    """
    stop = stop or threading.Event()
    name = "insta-connect-refresh-tiktok" if only_kind == "tiktok" else "insta-connect-refresh-tokens"
    database = Database(settings.database_url, maxconn=2,  # only the main thread writes ...
                        application_name=name)
    # ... but for TikTok's row lock: a worker refreshes a TikTok account inside its own locked transaction.
    locks = database.sibling(concurrency, f"{name}-locks")
    summary = Summary(dry_run=dry_run)
    started = time.monotonic()
    try:
        window = window if window is not None else settings.token_refresh_window_days
        if dry_run:
            summary.due = tokens.list_due(database, window, only_kind)
            for row in summary.due:
                out(f"would refresh {row['kind']}-{row['id']} ({row['name']}) by {tokens.METHODS[row['kind']]}, "
                    f"expires {row['expires_at'].isoformat() if row['expires_at'] else 'never'}")
            return summary
        vault = vault_from_settings(settings)
        local = threading.local()
        pacer = _Pacer(max_pause)
        run_started_at = datetime.now(timezone.utc)

        def work(row: dict) -> tuple[tokens.Outcome, tokens.Writes] | None:
            if stop.is_set():
                return None
            if not hasattr(local, "clients"):
                local.clients = tokens.Clients.from_settings(settings, db=locks, **(client_options or {}))
            pacer.wait(stop)
            outcome, writes = tokens.attempt(vault, local.clients, row)
            if outcome.outcome == "rate_limited":
                pacer.hold(outcome.retry_after)
            return outcome, writes

        # The workers only talk to Meta and TikTok; this thread claims more accounts before their queue runs
        # dry and writes what they bring back, everything that arrived together in one transaction, so no
        # worker waits for the database or for a batch's slowest account.
        results: queue.Queue = queue.Queue()
        in_flight, exhausted = 0, False
        last_progress = time.monotonic()

        def task(row: dict) -> None:
            try:
                results.put(work(row))
            except BaseException as exc:  # the job itself broke (a bug): main() reports it
                results.put(exc)

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="refresh") as pool:
            try:
                while True:
                    if not exhausted and not stop.is_set() and in_flight <= concurrency:
                        rows = tokens.claim_due(database, window, batch, run_started_at, only_kind=only_kind)
                        exhausted = not rows
                        for row in rows:
                            pool.submit(task, row)
                        in_flight += len(rows)
                    if in_flight == 0:
                        break
                    arrived = _arrived(results, in_flight)
                    in_flight -= len(arrived)
                    done = [item for item in arrived if isinstance(item, tuple)]
                    if done:
                        tokens.record(database, done)
                    for outcome, _ in done:
                        summary.outcomes[outcome.outcome] += 1
                    broken = next((item for item in arrived if isinstance(item, BaseException)), None)
                    if broken is not None:
                        raise broken
                    if time.monotonic() - last_progress >= progress_every:
                        last_progress = time.monotonic()
                        elapsed = last_progress - started
                        out(f"progress: {summary.attempted} account(s) in {elapsed:.0f}s "
                            f"({summary.attempted / elapsed:.0f}/s), {summary.outcomes['refreshed']} refreshed")
            except BaseException:  # the job broke: the accounts still queued are not attempted
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return summary
    finally:
        summary.seconds = time.monotonic() - started
        database.close()
