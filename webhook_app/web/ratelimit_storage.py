"""A `limits` storage kept in PostgreSQL, so every worker of a deployment shares its counters.

Defining the class registers the `postgresql://` and `postgres://` schemes with `limits`, so
Flask-Limiter takes `RATELIMIT_STORAGE_URI` (by default the app's own DATABASE_URL) as it is.
Only the fixed-window strategy is supported: one row per key, one upsert per hit.
"""
from __future__ import annotations

import time

from limits.storage import Storage

from webhook_app.db import Database
from webhook_app.exceptions import DatabaseError, DatabaseUnavailable


class PostgresStorage(Storage):
    STORAGE_SCHEME = ["postgresql", "postgres"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.db = Database(uri, maxconn=int(options.get("maxconn", 4)), application_name="insta-connect-ratelimit")

    @property
    def base_exceptions(self):
        return (DatabaseError,)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        # Retried once on a lost connection: counting one hit twice beats failing the request.
        row = self.db.one("rate_limit_incr", idempotent=True, key=key, expiry=float(expiry), amount=amount)
        return int(row["count"])

    def get(self, key: str) -> int:
        row = self.db.one("rate_limit_get", key=key)
        return int(row["count"]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self.db.one("rate_limit_expiry", key=key)
        return float(row["expires_at"]) if row else time.time()

    def check(self) -> bool:
        try:
            self.db.ping()
            return True
        except DatabaseUnavailable:
            return False

    def reset(self) -> int | None:
        return self.db.run("rate_limit_reset")

    def clear(self, key: str) -> None:
        self.db.run("rate_limit_clear", key=key)


def purge_expired(db: Database) -> int:
    """Delete the counters whose window has ended (the prune job); returns how many went."""
    return db.run("rate_limit_purge_expired")
