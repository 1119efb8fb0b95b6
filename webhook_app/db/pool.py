"""The one module that owns PostgreSQL: a pool per process and transactions around named queries."""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from flask import Flask, current_app

from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.db.queries import prepared, query

log = logging.getLogger(__name__)

# Errors that mean "the database is not there", as opposed to a bug in a query.
_UNAVAILABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)
# How long a thread waits for a free pooled connection before the request answers 503.
POOL_WAIT_SECONDS = 5


class _Connection(psycopg2.extensions.connection):
    """A connection that remembers which named queries it has prepared (PREPARE is per session)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


class Database:
    """A lazily created, fork-safe connection pool with helpers that run named queries."""

    def __init__(self, dsn: str, maxconn: int = 10, application_name: str = "insta-connect",
                 options: str | None = None, autocommit: bool = False):
        self.dsn = dsn
        self.maxconn = maxconn
        self.application_name = application_name
        self.options = options  # server settings for this pool's sessions, e.g. "-c plan_cache_mode=..."
        # Every statement its own transaction, set once per connection: for a pool that only runs
        # single statements (the receivers'), so statement_rows need not switch modes each time.
        self.autocommit = autocommit
        self._siblings: list[Database] = []
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._free: threading.BoundedSemaphore | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        # gunicorn forks workers: a pool made before the fork must not be shared with the child.
        if self._pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        0, self.maxconn, self.dsn, connect_timeout=5,
                        application_name=self.application_name, connection_factory=_Connection,
                        **({"options": self.options} if self.options else {}),
                    )
                    # psycopg2 closes every returned connection beyond minconn; raising it after
                    # construction keeps up to maxconn open for reuse without opening them up front.
                    self._pool.minconn = self.maxconn
                    # psycopg2's pool refuses at once when every connection is out; threads queue here instead.
                    self._free = threading.BoundedSemaphore(self.maxconn)
                    self._pid = os.getpid()
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A connection in a transaction: committed on success, rolled back on error, then returned."""
        try:
            pool = self._get_pool()
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(str(exc).strip() or exc.__class__.__name__) from None
        free = self._free
        if not free.acquire(timeout=POOL_WAIT_SECONDS):
            raise DatabaseUnavailable(f"no free database connection within {POOL_WAIT_SECONDS}s")
        try:
            conn = pool.getconn()
        except (_UNAVAILABLE + (psycopg2.pool.PoolError,)) as exc:
            free.release()
            raise DatabaseUnavailable(str(exc).strip() or exc.__class__.__name__) from None
        broken = False
        try:
            if self.autocommit and not conn.autocommit:
                conn.autocommit = True
            yield conn
            conn.commit()
        except _UNAVAILABLE as exc:
            broken = True
            raise DatabaseUnavailable(str(exc).strip() or exc.__class__.__name__) from exc
        except BaseException:
            try:
                conn.rollback()
            except _UNAVAILABLE:
                broken = True
            raise
        finally:
            pool.putconn(conn, close=broken or bool(conn.closed))
            free.release()

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """A dict cursor inside its own transaction."""
        with self.connection() as conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur

    def one(self, name: str, **params: Any) -> dict | None:
        """Run a named query in its own transaction and return its first row."""
        with self.cursor() as cur:
            cur.execute(query(name), params)
            return cur.fetchone() if cur.description else None

    def all(self, name: str, **params: Any) -> list[dict]:
        with self.cursor() as cur:
            cur.execute(query(name), params)
            return cur.fetchall() if cur.description else []

    def run(self, name: str, **params: Any) -> int:
        """Run a named statement; return the number of rows it touched."""
        with self.cursor() as cur:
            cur.execute(query(name), params)
            return cur.rowcount

    def statement_rows(self, name: str, **params: Any) -> list[tuple]:
        """Run a named query, prepared, as its own transaction in one round trip; return its rows as tuples.

        For the hot path (webhook deliveries): the plan is made once per connection, and in
        autocommit mode the server wraps the statement in an implicit transaction, so there is no
        BEGIN or COMMIT to wait for.
        """
        prepare, execute_prepared = prepared(name)
        with self.connection() as conn:
            switch = not conn.autocommit
            if switch:
                conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    if name not in conn.prepared:
                        cur.execute(prepare)
                        conn.prepared.add(name)
                    cur.execute(execute_prepared, params)
                    return cur.fetchall() if cur.description else []
            finally:
                if switch and not conn.closed:
                    conn.autocommit = False

    def ping(self) -> None:
        with self.cursor() as cur:
            cur.execute("SELECT 1")

    def sibling(self, maxconn: int, application_name: str, options: str | None = None,
                autocommit: bool = False) -> "Database":
        """Another pool on the same database with its own connections and settings, closed with this one."""
        other = Database(self.dsn, maxconn=maxconn, application_name=application_name, options=options,
                         autocommit=autocommit)
        self._siblings.append(other)
        return other

    def close(self) -> None:
        for sibling in self._siblings:
            sibling.close()
        if self._pool is not None and self._pid == os.getpid():
            self._pool.closeall()
        self._pool = None


def execute(cur, name: str, **params: Any) -> None:
    """Run a named query on a cursor the caller already holds (several queries, one transaction)."""
    cur.execute(query(name), params)


def execute_many(cur, name: str, rows: list[dict]) -> None:
    """Run a named statement once per parameter set, sent in pages (one round trip per page, not per row)."""
    psycopg2.extras.execute_batch(cur, query(name), rows, page_size=100)


def get_db() -> Database:
    return current_app.extensions["database"]


def init_app(app: Flask, database: Database) -> None:
    app.extensions["database"] = database
