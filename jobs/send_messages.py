"""Send queued replies (SPEC 16): `--once` sends what is due and exits; `--follow` stays up.

    python -m jobs.send_messages --follow             # the systemd service, and `make run`
    python -m jobs.send_messages --once

Follow mode wakes on LISTEN outbound_messages within milliseconds of a reply's commit, polls as a
fallback (and for retries that fall due), turns messages whose sender died mid-call into `unknown`,
and stops cleanly on SIGTERM or Ctrl-C (the call in hand is finished and recorded first).
"""
from __future__ import annotations

import argparse
import logging
import sys

from jobs.common import job_settings, stop_on_signals
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.outbound.sender import Sender

log = logging.getLogger("jobs.send_messages")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs.send_messages", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="send every message due now, then exit")
    mode.add_argument("--follow", action="store_true", help="stay up and send messages as they are queued")
    parser.add_argument("--workers", type=int, default=2, help="sending threads (default 2)")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="seconds between polls when no notification comes (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.poll_interval <= 0:
        parser.error("--workers and --poll-interval must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = job_settings()
    sender = Sender(settings, workers=args.workers, poll_interval=args.poll_interval)
    try:
        with stop_on_signals(sender.stop_requested):
            if args.once:
                totals = sender.run_once()
                log.info("sent %d, failed %d, retried %d, unknown %d", totals.sent, totals.failed, totals.retried,
                         totals.unknown)
            else:
                sender.run_follow()
    except DatabaseUnavailable as exc:
        log.error("database unavailable: %s", exc)
        return 1
    finally:
        sender.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
