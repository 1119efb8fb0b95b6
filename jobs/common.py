"""What every job needs first: settings, logging and the database URL."""
from __future__ import annotations

import sys

from webhook_app import embedded_db
from webhook_app.config import ConfigError, Settings, load_settings
from webhook_app.logging_setup import configure_logging


def job_settings() -> Settings:
    """Settings with a database URL (the embedded server's when DATABASE_URL is unset); exit 2 if broken."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    configure_logging(settings.log_level)
    if not settings.database_url:
        settings = settings.with_overrides(database_url=embedded_db.ensure_database(settings.var_dir))
    return settings
