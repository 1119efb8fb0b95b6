"""Send pacing shared through PostgreSQL: at most N sends a second per key, across every sender process and host.

A row per key holds the next free slot (sql/pacing.sql); `reserve` takes it in one statement and says how
long to wait, `slow_down` pushes it out after Meta answered "too fast". Both run against a Database or a
Transaction (`db.one`), in their own statement, so a caller never holds the row while it waits.
"""
from __future__ import annotations

import time


def reserve(db, key: str, per_second: float, now: float | None = None) -> float:
    """Reserve the next send slot for `key` at `per_second` sends a second; the seconds to wait before sending."""
    if not per_second or per_second <= 0:
        raise ValueError(f"per_second must be above 0 (got {per_second!r})")
    row = db.one("reserve_pace_slot", key=key, interval=1.0 / float(per_second), now=now)
    return max(0.0, float(row["wait"]))


def slow_down(db, key: str, seconds: float) -> float:
    """Make `key` send nothing for `seconds` from now (never brings its next slot closer); the seconds it now waits."""
    row = db.one("slow_down_pace", key=key, seconds=max(0.0, float(seconds)))
    return max(0.0, float(row["wait"]))


def wait_for_slot(db, key: str, per_second: float, *, sleep=time.sleep, stop=None) -> float:
    """`reserve`, then sleep until the slot (on `stop.wait` when a threading.Event is given); the seconds waited."""
    wait = reserve(db, key, per_second)
    if wait > 0:
        if stop is not None:
            stop.wait(wait)
        else:
            sleep(wait)
    return wait
