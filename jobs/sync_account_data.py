"""`python -m jobs.sync_account_data`: follower and media counts of Instagram and TikTok accounts (daily 03:00 UTC).

Accounts synced in the last 12 hours are skipped; each other account gets a snapshot. Exit code 1
when an account failed (its error is kept on the account and it is tried again next run).
"""
from __future__ import annotations

import json
import logging
import sys

from jobs.common import job_settings, open_database
from webhook_app.accounts import graph
from webhook_app.accounts.data_sync import DataSync
from webhook_app.tokens.vault import from_settings as vault_from_settings

log = logging.getLogger("jobs.sync_account_data")


def main(argv=None) -> int:
    settings = job_settings()
    db = open_database(settings, "data-sync", maxconn=2)
    try:
        report = DataSync(db, vault_from_settings(settings), graph.meta_client(settings),
                          graph.instagram_client(settings), graph.tiktok_client(settings),
                          spacing=settings.data_sync_spacing_seconds).run()
    finally:
        db.close()
    log.info("account data sync: %s", json.dumps({k: len(v) for k, v in report.as_dict().items()}))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
