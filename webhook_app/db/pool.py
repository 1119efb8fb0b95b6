"""The one module that runs SQL: a pool per process, transactions around named queries, driver errors mapped."""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from flask import Flask, current_app

from webhook_app.db.queries import query
from webhook_app.exceptions import (
    DatabaseError,
    DatabaseUnavailable,
    IntegrityViolation,
    InvalidData,
    TransactionConflict,
    UniqueViolation,
)

log = logging.getLogger(__name__)
Result = TypeVar("Result")

# Errors that mean "the database is not there", as opposed to a bug in a query.
_UNAVAILABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)
# How long a thread waits for a free pooled connection before the request answers 503.
POOL_WAIT_SECONDS = 5


def translate(exc: psycopg2.Error, broken: bool = False) -> DatabaseError:
    """The project's exception for a driver error (procrastinate's connector does the same at its edge).

    Every psycopg2 error becomes one of ours: a bare `psycopg2.DatabaseError` (libpq's "SSL SYSCALL
    error", "no message from the libpq") on a connection that is gone is DatabaseUnavailable too.
    """
    message = str(exc).strip() or exc.__class__.__name__
    # A deadlock is an OperationalError to the driver, but the database is there: the work can be redone.
    if not broken and isinstance(exc, psycopg2.extensions.TransactionRollbackError):
        return TransactionConflict(message)
    if broken or isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailable(message)
    if isinstance(exc, psycopg2.errors.UniqueViolation):
        return UniqueViolation(message)
    if isinstance(exc, psycopg2.IntegrityError):
        return IntegrityViolation(message)
    if isinstance(exc, psycopg2.DataError):
        return InvalidData(message)
    return DatabaseError(message)


class _Connection(psycopg2.extensions.connection):
    """A connection that knows when it was opened (to close those older than the last breakage).

    It keeps no session state for queries: through PgBouncer's transaction pooling the next
    statement may run on another server connection.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.opened_at = time.monotonic()


class Transaction:
    """The named queries of one open transaction: what a domain function runs several of, all or none.

    A statement that fails raises the project's exception at once, so the caller may recover from it
    inside a savepoint; the transaction itself is rolled back when its block ends with an error.
    """

    __slots__ = ("_cur", "pending")

    def __init__(self, cursor: psycopg2.extras.RealDictCursor):
        self._cur = cursor
        # Writes a domain layer gathers to send in one statement before the commit (its own keys).
        self.pending: dict[str, list] = {}

    def _execute(self, sql: str, params=None) -> None:
        try:
            self._cur.execute(sql, params)
        except psycopg2.Error as exc:
            raise translate(exc, broken=bool(self._cur.connection.closed)) from exc
        except ValueError as exc:  # the driver refuses to send the value at all (a NUL byte in text)
            raise InvalidData(str(exc)) from exc

    def one(self, name: str, **params: Any) -> dict | None:
        """Run a named query and return its first row (None when it returns none)."""
        self._execute(query(name), params)
        return self._cur.fetchone() if self._cur.description else None

    def all(self, name: str, **params: Any) -> list[dict]:
        self._execute(query(name), params)
        return self._cur.fetchall() if self._cur.description else []

    def run(self, name: str, **params: Any) -> int:
        """Run a named statement; return the number of rows it touched."""
        self._execute(query(name), params)
        return self._cur.rowcount

    def run_together(self, statements: list[tuple[str, dict]]) -> list[dict]:
        """Run several named statements in one round trip, in order; return the last one's rows.

        Each is still a statement of its own, with its own snapshot: it sees what the ones before it wrote.
        """
        if not statements:
            return []
        try:
            text = b";\n".join(self._cur.mogrify(query(name), params) for name, params in statements)
        except psycopg2.Error as exc:
            raise translate(exc, broken=bool(self._cur.connection.closed)) from exc
        except ValueError as exc:  # a NUL byte in text, as in _execute
            raise InvalidData(str(exc)) from exc
        self._execute(text)
        return self._cur.fetchall() if self._cur.description else []

    def run_many(self, name: str, rows: list[dict]) -> None:
        """Run a named statement once per parameter set, sent in pages (one round trip per page, not per row)."""
        try:
            psycopg2.extras.execute_batch(self._cur, query(name), rows, page_size=100)
        except psycopg2.Error as exc:
            raise translate(exc, broken=bool(self._cur.connection.closed)) from exc
        except ValueError as exc:  # a NUL byte in text, as in _execute
            raise InvalidData(str(exc)) from exc

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only what the block wrote when it raises; the transaction goes on."""
        self._execute("SAVEPOINT step")
        try:
            yield
        except Exception:
            if not self._cur.connection.closed:
                self._execute("ROLLBACK TO SAVEPOINT step")
            raise
        self._execute("RELEASE SAVEPOINT step")


class Database:
    """A lazily created, fork-safe connection pool that runs named queries."""

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
        self._broken_at = float("-inf")  # when a connection of this pool last broke (monotonic)

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        # gunicorn forks workers: a pool made before the fork must not be shared with the child.
        if self._pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        0, self.maxconn, self.dsn, connect_timeout=5, connection_factory=_Connection,
                        application_name=self.application_name,
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
    def _connection(self, rollback: bool = False) -> Iterator[_Connection]:
        """A pooled connection in a transaction: committed on success (rolled back if asked), then returned."""
        try:
            pool = self._get_pool()
        except psycopg2.Error as exc:
            raise translate(exc, broken=True) from None
        free = self._free
        if not free.acquire(timeout=POOL_WAIT_SECONDS):
            raise DatabaseUnavailable(f"no free database connection within {POOL_WAIT_SECONDS}s")
        try:
            conn = pool.getconn()
            # Connections opened before one of their kind broke have most likely lost the same
            # server (a restart ends them all): closed here rather than each failing a request.
            while conn.opened_at <= self._broken_at:
                pool.putconn(conn, close=True)
                conn = pool.getconn()
        except (psycopg2.Error, psycopg2.pool.PoolError) as exc:
            free.release()
            raise DatabaseUnavailable(str(exc).strip() or exc.__class__.__name__) from None
        broken = False
        try:
            if self.autocommit and not conn.autocommit:
                conn.autocommit = True
            yield conn
            if rollback:
                conn.rollback()
            else:
                conn.commit()
        except BaseException as exc:
            # A connection that is gone, or cannot even roll back, is closed rather than pooled.
            broken = bool(conn.closed)
            if not broken:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    broken = True
            if broken or conn.closed:
                self._broken_at = time.monotonic()
                if isinstance(exc, DatabaseUnavailable):
                    exc.connection_lost = True
            if isinstance(exc, psycopg2.Error):
                lost = translate(exc, broken)
                lost.connection_lost = broken or bool(conn.closed)
                raise lost from exc
            raise
        finally:
            pool.putconn(conn, close=broken or bool(conn.closed))
            free.release()

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[Transaction]:
        """Several named queries in one transaction: committed when the block ends, rolled back if it raises.

        `rollback=True` always rolls back: a preview of what the statements would do.
        """
        with self._connection(rollback=rollback) as conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield Transaction(cur)

    def retrying(self, work: Callable[[], Result], idempotent: bool) -> Result:
        """Run work; if it was idempotent and its connection broke, once more on a fresh connection.

        After a server restart every pooled connection is dead; the first to fail marks the rest
        (see _connection), and the retry runs on a new one, so the caller never sees the restart.
        """
        try:
            return work()
        except DatabaseUnavailable as exc:
            if not (idempotent and getattr(exc, "connection_lost", False)):
                raise
            log.warning("database connection lost (%s); retrying once on a fresh connection", exc)
            return work()

    def one(self, name: str, *, idempotent: bool | None = None, **params: Any) -> dict | None:
        """Run a named query in its own transaction and return its first row (reads are retried once)."""
        def work():
            with self.transaction() as tx:
                return tx.one(name, **params)
        return self.retrying(work, _is_read(name) if idempotent is None else idempotent)

    def all(self, name: str, *, idempotent: bool | None = None, **params: Any) -> list[dict]:
        def work():
            with self.transaction() as tx:
                return tx.all(name, **params)
        return self.retrying(work, _is_read(name) if idempotent is None else idempotent)

    def run(self, name: str, *, idempotent: bool = False, **params: Any) -> int:
        """Run a named statement in its own transaction; return the number of rows it touched."""
        def work():
            with self.transaction() as tx:
                return tx.run(name, **params)
        return self.retrying(work, idempotent)

    def statement_rows(self, name: str, *, idempotent: bool = False, **params: Any) -> list[tuple]:
        return self.retrying(lambda: self._statement_rows(name, params), idempotent)

    def _statement_rows(self, name: str, params: dict) -> list[tuple]:
        """Run a named query as its own transaction in one round trip; return its rows as tuples.

        For the hot path (webhook deliveries): in autocommit mode the server wraps the statement in
        an implicit transaction, so there is no BEGIN or COMMIT to wait for. Nothing is kept on the
        connection between calls (no PREPARE): through PgBouncer's transaction pooling the next call
        may run on another server connection. A statement worth a kept plan calls a PL/pgSQL
        function, whose plan the server keeps per connection by itself (migration 0120).
        """
        with self._connection() as conn:
            switch = not conn.autocommit
            if switch:
                conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    cur.execute(query(name), params)
                    return cur.fetchall() if cur.description else []
            finally:
                if switch and not conn.closed:
                    conn.autocommit = False

    def ping(self) -> None:
        with self._connection() as conn, conn.cursor() as cur:
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


def _is_read(name: str) -> bool:
    """A named query that only reads (it starts with SELECT), so running it twice changes nothing."""
    return query(name).lstrip().upper().startswith("SELECT")


def get_db() -> Database:
    return current_app.extensions["database"]


def init_app(app: Flask, database: Database) -> None:
    app.extensions["database"] = database
