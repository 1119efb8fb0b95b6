"""Fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), a fresh database per test made
from a migrated template, the app over real HTTP, and a browser-like client."""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path

import psycopg2
import pytest

from tests.support.live import AuthActions, Browser, LiveServer, with_database
from webhook_app import create_app
from webhook_app.config import Settings
from webhook_app.db.migrations import migrate

TEMPLATE_DB = f"ic_template_{os.getpid()}"
TEST_APP_SECRET = "test-app-secret"
_counter = itertools.count()


def _admin(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def pg_admin_url():
    """URL of a PostgreSQL server the suite may create and drop databases on."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    from webhook_app.db import embedded as embedded_db

    # Short path: the server's Unix socket lives in this folder, and socket paths are short.
    base = Path(tempfile.mkdtemp(prefix="icpg-"))
    pgdata = base / "pgdata"
    url = embedded_db.server_url(pgdata)
    yield url
    embedded_db.stop(pgdata)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def template_url(pg_admin_url):
    """A database migrated once; every test database is a copy of it."""
    conn = _admin(pg_admin_url)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        cur.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    url = with_database(pg_admin_url, TEMPLATE_DB)
    migrate(url)
    yield url
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
    conn.close()


class _TestDatabases:
    """Copies of the template made one test ahead, and dropped after, by a thread of their own.

    A copy costs about 0.2 s; made while the previous test runs, a test no longer waits for it.
    """

    AHEAD = 2

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self._ready: list[str] = []
        self._to_drop: list[str] = []
        self._error: BaseException | None = None
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="test-databases", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        conn = _admin(self.admin_url)
        # FILE_COPY (PostgreSQL 15+) copies the small template's files instead of WAL-logging every
        # page: 0.20 s a copy instead of 0.27 s here. PostgreSQL 14 knows only that way anyway.
        strategy = " STRATEGY FILE_COPY" if conn.server_version >= 150000 else ""
        try:
            while True:
                with self._cond:
                    while not (self._to_drop or self._closing or len(self._ready) < self.AHEAD):
                        self._cond.wait()
                    if self._to_drop:
                        statement = f'DROP DATABASE IF EXISTS "{self._to_drop.pop()}" WITH (FORCE)'
                        name = None
                    elif self._closing:
                        return
                    else:
                        name = f"ic_test_{os.getpid()}_{next(_counter)}"
                        statement = f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"{strategy}'
                with conn.cursor() as cur:
                    cur.execute(statement)
                if name:
                    with self._cond:
                        (self._to_drop if self._closing else self._ready).append(name)
                        self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the test that waits
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            conn.close()

    def take(self) -> str:
        with self._cond:
            while not self._ready:
                if self._error is not None:
                    raise RuntimeError(f"could not make a test database: {self._error}") from self._error
                self._cond.wait()
            name = self._ready.pop(0)
            self._cond.notify_all()
            return name

    def give_back(self, name: str) -> None:
        with self._cond:
            self._to_drop.append(name)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._to_drop.extend(self._ready)
            self._ready.clear()
            self._closing = True
            self._cond.notify_all()
        self._thread.join(60)


@pytest.fixture(scope="session")
def test_databases(pg_admin_url, template_url):
    databases = _TestDatabases(pg_admin_url)
    yield databases
    databases.close()


@pytest.fixture
def database_url(pg_admin_url, test_databases):
    name = test_databases.take()
    yield with_database(pg_admin_url, name)
    test_databases.give_back(name)


@pytest.fixture
def sandbox():
    """The Meta + TikTok sandbox over real HTTP (a thread of the test process).

    `sandbox.url` is its base, `sandbox.state` its in-memory world (webhook_app/sandbox/state.py:
    expire_tokens, add_fault, seed_templates, ...). Mark a test (or module) `@pytest.mark.sandbox`
    and the `settings`/`app`/`server`/`browser` fixtures talk to it, and it sends webhooks to `server`.
    """
    from webhook_app.sandbox import PathOnlyHandler, create_sandbox_app

    sandbox_app = create_sandbox_app(Settings(meta_app_secret=TEST_APP_SECRET))
    live = LiveServer(sandbox_app, request_handler=PathOnlyHandler).start()
    live.state = sandbox_app.extensions["sandbox"]
    yield live
    live.stop()


@pytest.fixture
def settings(database_url, tmp_path, request):
    base = _settings(database_url, tmp_path)
    if request.node.get_closest_marker("sandbox"):
        from webhook_app.sandbox import sandbox_urls

        base = base.with_overrides(**sandbox_urls(request.getfixturevalue("sandbox").url))
    return base


def _settings(database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key",
        token_encryption_keys=(b"k" * 32,),
        meta_app_secret=TEST_APP_SECRET,
        meta_verify_token="test-verify-token",
        bcrypt_rounds=4,
        var_dir=tmp_path / "var",
        log_level="INFO",
    )


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    app.extensions["live_hub"].close()
    app.extensions["database"].close()


@pytest.fixture
def server(app, request):
    live = LiveServer(app).start()
    if request.node.get_closest_marker("sandbox"):
        request.getfixturevalue("sandbox").state.webhook_url = live.url + "/webhook"
    yield live
    live.stop()


@pytest.fixture
def browser(server):
    return Browser(server.url)


@pytest.fixture
def auth(browser):
    return AuthActions(browser)


@pytest.fixture
def db(app):
    return app.extensions["database"]


@pytest.fixture
def sql(database_url):
    """Run plain SQL against the test database, to look at what a user's action stored."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True

    def run(statement: str, params=None):
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None

    yield run
    conn.close()
