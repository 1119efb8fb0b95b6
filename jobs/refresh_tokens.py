"""`python -m jobs.refresh_tokens`: refresh every token expiring within the window (daily, 02:00 UTC).

Exit status: 0 when the job ran (whatever Meta or TikTok answered for single accounts), 1 when the job
itself broke (no database, a bug), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from datetime import datetime, timezone

from jobs.common import job_settings, stop_on_signals
from webhook_app.accounts.graph import warn_if_version_ending
from webhook_app.tokens.refresh_run import run

log = logging.getLogger("jobs.refresh_tokens")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.refresh_tokens", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="list what would be refreshed; change nothing")
    parser.add_argument("--concurrency", type=int,
                        help="accounts refreshed at once (default: TOKEN_REFRESH_CONCURRENCY)")
    parser.add_argument("--batch", type=int, default=200, help="accounts claimed at a time (default 200)")
    parser.add_argument("--max-pause", type=float, default=60.0,
                        help="longest wait, in seconds, after a rate-limit answer (default 60)")
    args = parser.parse_args(argv)
    if (args.concurrency is not None and args.concurrency < 1) or args.batch < 1:
        parser.error("--concurrency and --batch must be at least 1")
    try:
        settings = job_settings()
        warn_if_version_ending(settings.meta_graph_version, datetime.now(timezone.utc).date())  # daily, in the log
        stop = threading.Event()
        with stop_on_signals(stop):
            summary = run(settings, dry_run=args.dry_run,
                          concurrency=args.concurrency or settings.token_refresh_concurrency, batch=args.batch,
                          max_pause=args.max_pause, stop=stop, out=lambda line: print(line, flush=True))
    except Exception:
        log.exception("the token refresh job failed")
        return 1
    print(summary.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
