"""PostgreSQL stopped and started under load: once it is back, no request fails (the pool heals at once)."""
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.support.live import AuthActions, Browser, Gunicorn, app_env
from tests.support.webhooks import deliver, ig_messages, wait_until
from webhook_app.db import embedded
from webhook_app.db.migrations import migrate


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, which it may stop and start (not the suite's)."""
    base = Path(tempfile.mkdtemp(prefix="icr-"))
    pgdata = base / "pgdata"
    admin = embedded.server_url(pgdata)
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('CREATE DATABASE "restart"')
    conn.close()
    url = admin.replace("/postgres?", "/restart?", 1)
    migrate(url)
    yield pgdata, url
    embedded.stop(pgdata)
    shutil.rmtree(base, ignore_errors=True)


def _load(server_url: str, browser: Browser, deliveries: int, reads: int, prefix: str) -> list[int]:
    http = requests.Session()

    def send(i):
        return deliver(server_url, ig_messages("ig-restart", [f"{prefix}-{i}"]), session=http).status_code

    def read(_):
        return browser.api("GET", "/api/webhook-events?limit=5").status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(deliveries))) + list(pool.map(read, range(reads)))


@pytest.mark.slow  # its own PostgreSQL server and a gunicorn process
def test_after_postgresql_restarts_no_request_fails(own_server, settings, tmp_path):
    pgdata, url = own_server
    server = Gunicorn(app_env(settings.with_overrides(database_url=url)), workers=2,
                      log_path=tmp_path / "gunicorn.log")
    try:
        browser = Browser(server.url)
        assert AuthActions(browser).register().status_code == 302
        assert set(_load(server.url, browser, 60, 60, "warm")) == {200}  # every pool holds open connections

        embedded.stop(pgdata)
        down = deliver(server.url, ig_messages("ig-restart", ["down"]))
        assert down.status_code == 503  # refused so Meta retries, never acknowledged and lost
        embedded.server_url(pgdata)
        wait_until(lambda: requests.get(server.url + "/healthz", timeout=5).status_code == 200, timeout=30)

        after = _load(server.url, browser, 200, 100, "back")
        failed = [s for s in after if s >= 500]
        assert failed == [], f"{len(failed)} of {len(after)} requests failed after the restart: {sorted(set(failed))}"
    finally:
        server.stop()
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Traceback" not in log.split("database unavailable")[-1] or "unhandled error" not in log, log[-3000:]
