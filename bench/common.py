"""What the benchmarks share: a throwaway PostgreSQL, fresh migrated databases, figures with context."""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

from webhook_app.config import Settings
from webhook_app.db import embedded as embedded_db
from webhook_app.db.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV_PYTHON = ROOT / "bench" / ".venv" / "bin" / "python"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.node()} · {os.cpu_count()} cores ({cpu}) · Python {platform.python_version()} · "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")


class Postgres:
    """A throwaway embedded PostgreSQL (or BENCH_DATABASE_URL's server) for one benchmark run."""

    def __init__(self):
        given = os.environ.get("BENCH_DATABASE_URL")
        self._base = None
        if given:
            self.admin_url = given
        else:
            self._base = Path(tempfile.mkdtemp(prefix="icbench-"))
            self.admin_url = embedded_db.server_url(self._base / "pgdata")

    def version(self) -> str:
        conn = psycopg2.connect(self.admin_url)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return cur.fetchone()[0]
        finally:
            conn.close()

    def fresh(self, name: str, migrated: bool = True) -> str:
        """A new empty database (migrated unless told otherwise); returns its URL."""
        from tests.support.live import with_database

        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        url = with_database(self.admin_url, name)
        if migrated:
            migrate(url)
        return url

    def close(self) -> None:
        if self._base is not None:
            embedded_db.stop(self._base / "pgdata")
            shutil.rmtree(self._base, ignore_errors=True)


def settings_for(url: str, **overrides) -> Settings:
    return Settings(database_url=url, secret_key="bench", token_encryption_keys=(b"k" * 32,),
                    meta_app_secret="bench-app-secret", meta_verify_token="bench-verify", log_level="WARNING",
                    **overrides)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def sql(url: str, statement: str, params=None):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()
