"""The connection pool under more threads than connections: callers wait their turn, no 503."""
import threading
import time

from webhook_app.db import Database


def test_more_threads_than_connections_wait_instead_of_failing(settings):
    db = Database(settings.database_url, maxconn=2)
    errors, done = [], []

    def work():
        try:
            with db._connection() as conn, conn.cursor() as cur:  # the pool itself, under any query
                cur.execute("SELECT pg_sleep(0.1)")
            done.append(1)
        except Exception as exc:  # noqa: BLE001 - what the test looks for
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(done) == 8
    assert time.monotonic() - started >= 0.35  # 8 sleeps of 0.1 s through 2 connections: queued, not parallel
    db.close()
