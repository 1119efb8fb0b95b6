"""webhook_events by week (SPEC 18, migration 0121): retention drops whole weeks and never an unfinished
event, the inbox's links stay valid, the dashboard's counts stay exact, and the migration carried the
events that were already there."""
import shutil

import psycopg2
import pytest

from tests.support.live import with_database
from tests.support.webhooks import add_owner, deliver, ig_messages
from webhook_app.db.migrations import migrate, migration_files
from webhook_app.webhooks import events, retention
from webhook_app.webhooks.processor import Processor

OWNER_ACCOUNT = "ig-weeks"


def _drain(settings):
    processor = Processor(settings, workers=1)
    try:
        return processor.run_once()
    finally:
        processor.close()


def _counts(sql, user_id):
    """The dashboard's status counts (the rollups) and the events' own, side by side."""
    rollup = {s: int(n) for s, n in sql("SELECT status, sum(n) FROM webhook_status_counts WHERE user_id = %s "
                                        "GROUP BY status", (user_id,)) if n}
    actual = dict(sql("SELECT status, count(*) FROM webhook_events WHERE user_id = %s GROUP BY status", (user_id,)))
    return rollup, actual


def _partitions(sql):
    return [row[0] for row in sql("SELECT name FROM webhook_events_partitions()")]


def test_prune_drops_the_expired_week_keeps_its_unfinished_events_and_unlinks_the_inbox(server, sql, settings, db):
    owner = add_owner(sql, "weeks@example.com", OWNER_ACCOUNT)
    old_week = sql("SELECT webhook_events_create_partition((now() - interval '60 days')::date)")[0][0]
    assert deliver(server.url, ig_messages(OWNER_ACCOUNT, [f"old.{n}" for n in range(5)])).status_code == 200
    assert deliver(server.url, ig_messages(OWNER_ACCOUNT, ["recent"])).status_code == 200
    assert _drain(settings).processed == 6
    # The first delivery's events arrived 60 days ago: they move into that week's partition.
    sql("UPDATE webhook_events SET received_at = received_at - interval '60 days', "
        "processed_at = processed_at - interval '60 days' WHERE delivery_id = 1")
    sql("UPDATE webhook_events SET status = 'pending' WHERE delivery_id = 1 AND entry_index = 3")
    sql("UPDATE webhook_events SET status = 'dead_letter' WHERE delivery_id = 1 AND entry_index = 4")
    assert sql(f'SELECT count(*) FROM "{old_week}"') == [(5,)]
    kept_ids = sql("SELECT id FROM webhook_events WHERE delivery_id = 1 AND entry_index >= 3 ORDER BY id")
    linked = dict(sql("SELECT external_id, event_id FROM messages"))
    assert len(linked) == 6 and all(linked.values())

    done = retention.prune(db, days=30)

    assert (done["partitions"], done["partition_events"], done["kept_unfinished"]) == (1, 3, 2)
    assert old_week not in _partitions(sql)
    # The unfinished ones are still there, same ids, in the queue as they were; the rest of that week is gone.
    assert sql("SELECT id FROM webhook_events WHERE delivery_id = 1 ORDER BY id") == kept_ids
    assert sorted(sql("SELECT status FROM webhook_events")) == [("dead_letter",), ("pending",), ("processed",)]
    # Inbox rows stay; a link points at an event that exists, or at nothing.
    links = dict(sql("SELECT i.external_id, e.id IS NOT NULL FROM messages i "
                     "LEFT JOIN webhook_events e ON e.id = i.event_id"))
    assert links == {"old.0": False, "old.1": False, "old.2": False, "old.3": True, "old.4": True, "recent": True}
    assert sql("SELECT count(*) FROM messages WHERE event_id IS NOT NULL") == [(3,)]
    rollup, actual = _counts(sql, owner)
    assert rollup == actual == {"processed": 1, "pending": 1, "dead_letter": 1}
    # This week and the four ahead exist, so the intake never writes to the default partition.
    assert len([name for name in _partitions(sql) if name >= sql(
        "SELECT 'webhook_events_w' || to_char(date_trunc('week', now() AT TIME ZONE 'UTC'), 'YYYYMMDD')")[0][0]]) == 5

    assert retention.prune(db, days=30)["partitions"] == 0  # nothing more to drop
    assert sql("SELECT count(*) FROM webhook_events") == [(3,)]


def test_kept_events_leave_the_default_partition_once_processed_and_old(server, sql, settings, db):
    """The unfinished events of a dropped week are finished later: then they go like any other old event."""
    owner = add_owner(sql, "kept@example.com", OWNER_ACCOUNT)
    old_week = sql("SELECT webhook_events_create_partition((now() - interval '60 days')::date)")[0][0]
    assert deliver(server.url, ig_messages(OWNER_ACCOUNT, ["late"])).status_code == 200
    sql("UPDATE webhook_events SET received_at = received_at - interval '60 days'")
    assert retention.prune(db, days=30)["kept_unfinished"] == 1
    assert sql("SELECT count(*) FROM webhook_events_default") == [(1,)]
    assert _drain(settings).processed == 1  # the queue still finds it
    sql("UPDATE webhook_events SET processed_at = now() - interval '31 days'")
    assert retention.prune(db, days=30)["events"] == 1
    assert sql("SELECT count(*) FROM webhook_events") == [(0,)]
    assert sql("SELECT count(*) FROM messages WHERE event_id IS NOT NULL") == [(0,)]
    assert _counts(sql, owner) == ({}, {})
    assert old_week not in _partitions(sql)


def test_a_week_without_its_partition_lands_in_the_default_and_moves_in_when_it_is_made(server, sql):
    assert deliver(server.url, ig_messages("ig-x", ["far"])).status_code == 200
    sql("UPDATE webhook_events SET received_at = now() + interval '90 days'")  # beyond the weeks made ahead
    assert sql("SELECT count(*) FROM webhook_events_default") == [(1,)]
    name = sql("SELECT webhook_events_create_partition((now() + interval '90 days')::date)")[0][0]
    assert sql("SELECT count(*) FROM webhook_events_default") == [(0,)]
    assert sql(f'SELECT count(*) FROM "{name}"') == [(1,)]


def test_a_week_inside_the_retention_period_is_refused(sql):
    name = sql("SELECT webhook_events_create_partition(now()::date)")[0][0]
    with pytest.raises(psycopg2.errors.InvalidParameterValue):
        sql("SELECT webhook_events_detach_partition(%s, now() - interval '30 days')", (name,))
    assert name in _partitions(sql)


def test_a_week_detached_by_a_run_that_stopped_is_finished_by_the_next(server, sql, settings, db):
    owner = add_owner(sql, "halfway@example.com", OWNER_ACCOUNT)
    old_week = sql("SELECT webhook_events_create_partition((now() - interval '60 days')::date)")[0][0]
    assert deliver(server.url, ig_messages(OWNER_ACCOUNT, ["done", "waiting"])).status_code == 200
    sql("UPDATE webhook_events SET received_at = received_at - interval '60 days'")
    sql("UPDATE webhook_events SET status = 'processed', processed_at = now() WHERE entry_index = 0")
    sql("SELECT webhook_events_detach_partition(%s, now() - interval '30 days')", (old_week,))  # step 1 only
    assert sql("SELECT count(*) FROM webhook_events") == [(0,)]  # out of the table until step 2

    done = retention.prune(db, days=30)

    assert (done["partitions"], done["partition_events"], done["kept_unfinished"]) == (1, 1, 1)
    assert sql("SELECT to_regclass(%s) IS NULL", (old_week,)) == [(True,)]
    assert sql("SELECT status, entry_index FROM webhook_events") == [("pending", 1)]
    rollup, actual = _counts(sql, owner)
    assert rollup == actual == {"pending": 1}


@pytest.fixture
def before_0121(pg_admin_url, tmp_path):
    """A database migrated up to 0120 (one webhook_events table), and a folder holding 0121 too."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    for path in migration_files():
        if path.name[:4] <= "0121":
            shutil.copy(path, new)
        if path.name[:4] < "0121":
            shutil.copy(path, old)
    name = "ic_before_0121"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    url = with_database(pg_admin_url, name)
    migrate(url, old)
    yield url, new
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _run(url, statement, params=None):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def test_0121_moves_every_event_into_its_week_and_keeps_the_inbox_links(before_0121):
    url, with_0121 = before_0121
    user = _run(url, "INSERT INTO users (email, password_hash) VALUES ('m@example.com', 'x') RETURNING id")[0][0]
    _run(url, "INSERT INTO webhook_deliveries (body_sha256, object, entry_count) VALUES ('\\x01', 'instagram', 3)")
    _run(url, """INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, payload, status,
                                             received_at, processed_at)
                 VALUES (1, 0, %(u)s, 'instagram', 'messaging', '{}', 'processed', now() - interval '20 days', now()),
                        (1, 1, %(u)s, 'instagram', 'messaging', '{}', 'pending', now() - interval '3 days', NULL),
                        (1, 2, %(u)s, 'instagram', 'messaging', '{}', 'processed', now(), now())""", {"u": user})
    _run(url, """INSERT INTO interactions (user_id, platform, kind, external_id, event_id)
                 SELECT %s, 'instagram', 'message', 'mid.' || id, id FROM webhook_events""", (user,))
    before = _run(url, "SELECT * FROM webhook_events ORDER BY id")
    counts_before = _run(url, "SELECT status, sum(n) FROM webhook_status_counts GROUP BY 1 ORDER BY 1")

    assert migrate(url, with_0121) == ["0121_partition_webhook_events.sql"]

    assert _run(url, "SELECT * FROM webhook_events ORDER BY id") == before
    assert _run(url, "SELECT relkind FROM pg_class WHERE relname = 'webhook_events'") == [("p",)]
    weeks = _run(url, "SELECT name FROM webhook_events_partitions()")
    assert len(weeks) >= 5  # the week 20 days ago through four weeks ahead
    assert _run(url, "SELECT count(*) FROM webhook_events_default") == [(0,)]
    assert _run(url, "SELECT count(*) FROM interactions i JOIN webhook_events e ON e.id = i.event_id") == [(3,)]
    assert _run(url, "SELECT status, sum(n) FROM webhook_status_counts GROUP BY 1 ORDER BY 1") == counts_before
    # The sequence goes on, and the rollups follow new events.
    new_id = _run(url, """INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, payload)
                          VALUES (1, 3, %s, 'instagram', '{}') RETURNING id""", (user,))[0][0]
    assert new_id > max(row[0] for row in before)
    assert dict(_run(url, "SELECT status, sum(n)::int FROM webhook_status_counts GROUP BY 1")) == {
        "processed": 2, "pending": 2}


def test_deleting_an_event_unlinks_its_inbox_row(server, sql, settings, db):
    owner = add_owner(sql, "delete@example.com", OWNER_ACCOUNT)
    assert deliver(server.url, ig_messages(OWNER_ACCOUNT, ["gone", "stays"])).status_code == 200
    assert _drain(settings).processed == 2
    doomed = sql("SELECT event_id FROM messages WHERE external_id = 'gone'")[0][0]
    assert events.delete_event(db, owner, doomed) is True
    assert dict(sql("SELECT external_id, event_id IS NULL FROM messages")) == {"gone": True, "stays": False}
    assert events.delete_event(db, owner + 1, sql("SELECT event_id FROM messages WHERE external_id = 'stays'")[0][0]) \
        is False  # another user's event: nothing happens
    assert sql("SELECT count(*) FROM messages WHERE event_id IS NOT NULL") == [(1,)]
