"""`python -m jobs.monitor_tokens`: validate every account's token with Meta / TikTok, in batches (every 30 min).

Answers still fresh in the shared cache are not asked again. A token Meta calls invalid marks its account
`needs_reauth` (the dashboard shows a Reconnect banner). Exit 1 only when the job itself broke.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections import Counter

from jobs.common import job_settings, open_database, stop_on_signals
from webhook_app.tokens import health as token_health
from webhook_app.tokens.refresh import Clients
from webhook_app.tokens.vault import from_settings as vault_from_settings

log = logging.getLogger("jobs.monitor_tokens")


def run(settings, *, batch: int = 100, pause: float = 0.0, stop=None) -> Counter:
    """Check every account whose cached answer is stale; returns counts by status (and 'cached', 'unchecked')."""
    database = open_database(settings, "monitor-tokens", maxconn=2)
    try:
        return token_health.check_stale(database, vault_from_settings(settings), Clients.from_settings(settings),
                                        cache_seconds=settings.token_health_cache_seconds,
                                        window_days=settings.token_refresh_window_days, batch=batch, pause=pause,
                                        stop=stop)
    finally:
        database.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.monitor_tokens", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100, help="accounts read and checked per batch")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to wait between batches")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        settings = job_settings()
        stop = threading.Event()
        with stop_on_signals(stop):
            counts = run(settings, batch=args.batch, pause=args.pause, stop=stop)
    except Exception:
        log.exception("the token monitor job failed")
        return 1
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no accounts"
    print(f"token check done in {time.monotonic() - started:.1f}s: {parts}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
