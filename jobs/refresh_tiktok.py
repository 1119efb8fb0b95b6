"""`python -m jobs.refresh_tiktok`: refresh every TikTok access token expiring within the hour (every 30 minutes).

TikTok's access tokens last 2 hours; this run keeps them fresh between calls (a call refreshes its own
token first when it expires within 10 minutes). Each account is refreshed under its credential's row
lock, so this run, the daily job and a call never use the same refresh token twice.
Exit status: 0 when the run went through, 1 when the job itself broke, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from datetime import timedelta

from jobs.common import job_settings, stop_on_signals
from webhook_app.tokens.refresh_run import run

log = logging.getLogger("jobs.refresh_tiktok")

WINDOW = timedelta(hours=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.refresh_tiktok", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="list what would be refreshed; change nothing")
    parser.add_argument("--concurrency", type=int, default=2, help="accounts refreshed at once (default 2)")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        settings = job_settings()
        stop = threading.Event()
        with stop_on_signals(stop):
            summary = run(settings, dry_run=args.dry_run, concurrency=args.concurrency, only_kind="tiktok",
                          window=WINDOW, stop=stop, out=lambda line: print(line, flush=True))
    except Exception:
        log.exception("the TikTok refresh run failed")
        return 1
    print(summary.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
