"""`python -m jobs.sync_templates`: sync every WhatsApp account's message templates (the hourly timer).

The template sync queued when a WhatsApp account connects runs in the background-jobs worker
(`python -m jobs.run_background_jobs`).
"""
from __future__ import annotations

import argparse
import logging
import sys

from jobs.common import job_settings, open_database
from webhook_app.accounts import graph
from webhook_app.message_templates import sync as templates_sync
from webhook_app.tokens.vault import from_settings as vault_from_settings

log = logging.getLogger("jobs.sync_templates")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.sync_templates", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    settings = job_settings()
    db = open_database(settings, "sync-templates", maxconn=2)
    try:
        results = templates_sync.sync_user(db, vault_from_settings(settings), graph.meta_client(settings), None)
    finally:
        db.close()
    failed = [r for r in results if not r.ok]
    log.info("template sync: %d accounts, %d failed, %d templates", len(results), len(failed),
             sum(r.templates for r in results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
