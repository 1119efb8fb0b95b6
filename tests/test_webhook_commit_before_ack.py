"""Commit before ack (SPEC 7): with the database stopped a delivery gets 503; once it is back, stored once.

This test runs its own throwaway PostgreSQL so it can stop it without touching the shared one.
"""
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.live import LiveServer, with_database
from tests.support.webhooks import deliver, ig_messages, wait_until
from webhook_app import create_app
from webhook_app.db import embedded as embedded_db
from webhook_app.db.migrations import migrate

pytestmark = pytest.mark.slow  # stops a PostgreSQL server of its own


@pytest.fixture
def own_postgres():
    base = Path(tempfile.mkdtemp(prefix="icack-"))  # short: the Unix socket lives here
    pgdata = base / "pgdata"
    admin = embedded_db.server_url(pgdata)
    import psycopg2

    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute("CREATE DATABASE ack")
    conn.close()
    url = with_database(admin, "ack")
    migrate(url)
    yield pgdata, url
    embedded_db.stop(pgdata)
    shutil.rmtree(base, ignore_errors=True)


def test_database_down_gives_503_and_the_retried_delivery_is_stored_once(own_postgres, settings):
    pgdata, url = own_postgres
    app = create_app(settings.with_overrides(database_url=url))
    live = LiveServer(app).start()
    try:
        assert deliver(live.url, ig_messages("ig-1", ["before"])).status_code == 200
        embedded_db.stop(pgdata)

        during = ig_messages("ig-1", ["during-outage"])
        for _ in range(3):  # Meta retries; every attempt is refused while the database is away
            response = deliver(live.url, during)
            assert response.status_code == 503
            assert response.headers.get("Retry-After")

        assert embedded_db.server_url(pgdata).split("?")[1] == url.split("?")[1]  # same server address again
        # Meta keeps retrying; a pooled connection that died with the old server may cost one more 503.
        wait_until(lambda: deliver(live.url, during).status_code == 200, timeout=30, interval=0.2)
        assert deliver(live.url, during).status_code == 200  # and one more duplicate for good measure
    finally:
        live.stop()
        app.extensions["database"].close()

    import psycopg2

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT payload->'messaging'->0->'message'->>'mid', count(*) FROM webhook_events GROUP BY 1 ORDER BY 1")
        assert cur.fetchall() == [("before", 1), ("during-outage", 1)]
        cur.execute("SELECT count(*), sum(duplicate_count) FROM webhook_deliveries")
        assert cur.fetchone() == (2, 1)
    conn.close()
