"""Process the webhook event queue: `--once` drains what is due and exits; `--follow` stays up.

    python -m jobs.process_webhooks --once             # the systemd timer
    python -m jobs.process_webhooks --follow --workers 2 --batch-size 100

Follow mode wakes on LISTEN/NOTIFY within milliseconds of the receiver's commit, polls as a
fallback (and for retries that fall due), extends the leases of the events it holds, returns the
events of dead workers to the queue, and stops cleanly on SIGTERM or Ctrl-C.
"""
from __future__ import annotations

import argparse
import logging
import sys

from jobs.common import job_settings, stop_on_signals
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.webhooks.processor import Processor

log = logging.getLogger("jobs.process_webhooks")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs.process_webhooks", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="drain every event due now, then exit")
    mode.add_argument("--follow", action="store_true", help="stay up and process events as they arrive")
    parser.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=100, help="events claimed at a time (default 100)")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="seconds between polls when no notification comes (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.batch_size < 1 or args.poll_interval <= 0:
        parser.error("--workers, --batch-size and --poll-interval must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = job_settings()
    processor = Processor(settings, workers=args.workers, batch_size=args.batch_size,
                          poll_interval=args.poll_interval)
    try:
        with stop_on_signals(processor.stop_requested):
            if args.once:
                processor.run_once()
            else:
                processor.run_follow()
    except DatabaseUnavailable as exc:
        log.error("database unavailable: %s", exc)
        return 1
    finally:
        processor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
