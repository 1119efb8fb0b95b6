"""The connection pool: callers wait their turn for a connection, driver errors become ours, dead connections go."""
import threading
import time

import pytest

from webhook_app.db import Database
from webhook_app.exceptions import DatabaseUnavailable, IntegrityViolation, InvalidData


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


def test_driver_errors_arrive_as_the_projects_own_and_the_connection_is_reused(settings, sql):
    db = Database(settings.database_url, maxconn=1)
    try:
        with pytest.raises(InvalidData, match="out of range"):
            db.run("log_token_refresh", user_id=1, kind="meta", account_id=2**70, method="fb_exchange_token",
                   outcome="refreshed", error_code=None, error_message=None, duration_ms=1)  # beyond bigint
        with pytest.raises(InvalidData, match="NUL"):
            db.one("get_user_by_email", email="owner\x00@example.com")
        with pytest.raises(IntegrityViolation, match="check constraint"):
            db.run("log_token_refresh", user_id=1, kind="myspace", account_id=1, method="fb_exchange_token",
                   outcome="refreshed", error_code=None, error_message=None, duration_ms=1)
        # Each failure was rolled back on the one pooled connection, which still answers.
        assert db.one("get_user", user_id=1) is None
        assert sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'insta-connect'") == [(1,)]
    finally:
        db.close()


def test_a_read_on_a_connection_the_server_dropped_is_retried_on_a_fresh_one(settings, sql):
    db = Database(settings.database_url, maxconn=1, application_name="pool-test")
    try:
        assert db.one("get_user", user_id=1) is None
        sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-test'")
        assert db.one("get_user", user_id=1) is None  # a read: retried once on a new connection, unnoticed
    finally:
        db.close()


def test_a_write_on_a_dropped_connection_fails_once_and_the_pool_is_renewed(settings, sql):
    db = Database(settings.database_url, maxconn=3, application_name="pool-test")
    try:
        held = [db._connection() for _ in range(3)]  # three connections open, then all idle in the pool
        for conn in held:
            conn.__enter__()
        for conn in held:
            conn.__exit__(None, None, None)
        sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-test'")
        with pytest.raises(DatabaseUnavailable):  # a write is not retried: it might have been applied
            db.run("mark_webhook_verified")
        # The other two idle connections died with the first; they are replaced, not tried one by one.
        for _ in range(3):
            db.run("mark_webhook_verified")
    finally:
        db.close()
    unreachable = Database("postgresql://nobody@127.0.0.1:1/none", maxconn=1)
    with pytest.raises(DatabaseUnavailable):
        unreachable.one("get_user", user_id=1)


def test_a_savepoint_undoes_only_its_block_and_a_preview_keeps_nothing(settings, sql):
    db = Database(settings.database_url, maxconn=1)
    try:
        with db.transaction() as tx:
            tx.one("create_user", email="kept@example.com", password_hash="x")
            with pytest.raises(IntegrityViolation):
                with tx.savepoint():
                    tx.one("create_user", email="undone@example.com", password_hash="x")
                    tx.run("log_token_refresh", user_id=1, kind="myspace", account_id=1, method="fb_exchange_token",
                           outcome="refreshed", error_code=None, error_message=None, duration_ms=1)
        with db.transaction(rollback=True) as tx:
            tx.one("create_user", email="preview@example.com", password_hash="x")
        assert sql("SELECT email FROM users ORDER BY email") == [("kept@example.com",)]
    finally:
        db.close()


def test_statements_sent_together_see_each_others_writes_and_fail_as_ours(settings, sql):
    db = Database(settings.database_url, maxconn=1)
    try:
        with db.transaction() as tx:
            rows = tx.run_together([("create_user", {"email": "first@example.com", "password_hash": "x"}),
                                    ("create_user", {"email": "second@example.com", "password_hash": "y"}),
                                    ("get_user_by_email", {"email": "first@example.com"})])
        assert [r["email"] for r in rows] == ["first@example.com"]  # the last one's rows, after the first's write
        with pytest.raises(InvalidData):
            with db.transaction() as tx:
                tx.run_together([("create_user", {"email": "third@example.com", "password_hash": "z"}),
                                 ("create_user", {"email": "nul\x00@example.com", "password_hash": "z"})])
        with pytest.raises(IntegrityViolation):
            with db.transaction() as tx:  # a later statement failing undoes the earlier ones with the transaction
                tx.run_together([("create_user", {"email": "fourth@example.com", "password_hash": "z"}),
                                 ("log_token_refresh", {"user_id": 1, "kind": "myspace", "account_id": 1,
                                                        "method": "fb_exchange_token", "outcome": "refreshed",
                                                        "error_code": None, "error_message": None,
                                                        "duration_ms": 1})])
        with db.transaction() as tx:
            assert tx.run_together([]) == []
        assert sql("SELECT email FROM users ORDER BY email") == [("first@example.com",), ("second@example.com",)]
    finally:
        db.close()
