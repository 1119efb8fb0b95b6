"""Apply sql/migrations/NNNN_name.sql in order, each once, each in its own transaction."""
from __future__ import annotations

import logging
from pathlib import Path

import psycopg2

from webhook_app.exceptions import DatabaseUnavailable

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"
# Any constant works: it only keeps two processes from migrating at the same moment.
_LOCK_ID = 72_346_001


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    files = sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    versions = [f.name[:4] for f in files]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a number in {directory}")
    return files


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet recorded in schema_migrations; return the names applied."""
    try:
        conn = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailable(str(exc).strip()) from None
    applied: list[str] = []
    try:
        with conn:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version text PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                cur.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in cur.fetchall()}
        for path in migration_files(directory):
            version = path.name[:4]
            if version in done:
                continue
            with conn:  # one transaction per file: all of it or none of it
                with conn.cursor() as cur:
                    cur.execute(path.read_text())
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, path.stem),
                    )
            log.info("applied migration %s", path.name)
            applied.append(path.name)
        with conn:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    finally:
        conn.close()
    return applied
