"""`python -m jobs.migrate`: apply the migrations in sql/migrations/ that the database has not seen (each once)."""
from __future__ import annotations

import sys

from jobs.common import job_settings
from webhook_app.db.migrations import migrate
from webhook_app.exceptions import DatabaseUnavailable


def main() -> int:
    settings = job_settings()
    try:
        applied = migrate(settings.database_url)
    except DatabaseUnavailable as exc:
        print(f"cannot reach the database: {exc}", file=sys.stderr)
        return 1
    print(f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ", database up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
