"""The queue (SPEC 8): retries on schedule then dead_letter, manual retry, leases, concurrent workers."""
import time

import pytest

from tests.support.webhooks import add_owner, deliver, ig_messages, start_processor
from webhook_app.webhooks import event_queue as queue
from webhook_app.webhooks import handlers
from webhook_app.webhooks.processor import Processor

REFUSE_BOOM = """
CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.text = 'boom' THEN RAISE EXCEPTION 'the inbox refuses this message'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_boom BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_boom();
"""


def drain(settings, workers=1):
    processor = Processor(settings, workers=workers)
    try:
        return processor.run_once()
    finally:
        processor.close()


def boom_event(sql):
    return sql("SELECT id, status, attempts, run_at, errors FROM webhook_events WHERE payload::text LIKE '%%boom%%'")[0]


@pytest.mark.slow
def test_failing_handler_retries_on_schedule_then_dead_letter_then_manual_retry(server, sql, settings, db):
    delays = (0.5, 1.0, 1.5)
    settings = settings.with_overrides(webhook_retry_delays=delays)
    owner = add_owner(sql, "owner@example.com", "ig-1")
    stranger = add_owner(sql, "other@example.com", "ig-2")
    sql(REFUSE_BOOM)  # the database refuses the write: a real handler failure, not a stand-in
    deliver(server.url, {"object": "instagram", "entry": ig_messages("ig-1", ["good"])["entry"]
                         + ig_messages("ig-1", ["bad"], text="boom")["entry"]})

    drain(settings)
    assert sql("SELECT count(*) FROM messages WHERE external_id = 'good'") == [(1,)]  # its neighbour is not held up
    for attempt, delay in enumerate(delays, start=1):
        event_id, status, attempts, run_at, errors = boom_event(sql)
        assert (status, attempts, len(errors)) == ("failed", attempt, attempt)
        assert "the inbox refuses this message" in errors[-1]["message"]
        failed_at = sql("SELECT %s::timestamptz", (errors[-1]["at"],))[0][0]
        scheduled = (run_at - failed_at).total_seconds()
        assert delay * 0.9 - 0.01 <= scheduled <= delay * 1.1 + 0.01
        drain(settings)  # not due yet: left alone
        assert boom_event(sql)[2] == attempt
        time.sleep(max(0.0, (run_at - sql("SELECT now()")[0][0]).total_seconds()) + 0.05)
        drain(settings)
    event_id, status, attempts, _, errors = boom_event(sql)
    assert (status, attempts, len(errors)) == ("dead_letter", 4, 4)
    assert sql("SELECT last_error LIKE '%%refuses%%' FROM webhook_health WHERE user_id = %s", (owner,)) == [(True,)]

    # The dashboard's retry button calls queue.retry(db, event_id, user_id).
    assert queue.retry(db, event_id, stranger) is False  # someone else's event: as if missing
    assert queue.retry(db, event_id + 1000, owner) is False
    sql("DROP TRIGGER refuse_boom ON messages")
    assert queue.retry(db, event_id, owner) is True
    assert boom_event(sql)[1] == "pending"
    assert queue.retry(db, event_id, owner) is False  # only failed or dead-letter events
    drain(settings)
    assert boom_event(sql)[1] == "processed"
    assert sql("SELECT text FROM messages WHERE external_id = 'bad'") == [("boom",)]


def test_slow_worker_whose_lease_expired_cannot_complete_or_double_handle(server, sql, db):
    add_owner(sql, "owner@example.com", "ig-1")
    deliver(server.url, ig_messages("ig-1", ["slow"]))
    [taken_by_a] = queue.claim(db, "worker-a", 10, lease_seconds=0.2)
    time.sleep(0.3)
    assert queue.reclaim_expired(db) == 1
    [taken_by_b] = queue.claim(db, "worker-b", 10, lease_seconds=15)
    assert taken_by_b.attempts == 2
    assert queue.process(db, "worker-b", [taken_by_b], handlers.dispatch, (1,)).processed == 1
    late = queue.process(db, "worker-a", [taken_by_a], handlers.dispatch, (1,))
    assert (late.processed, late.lost) == (0, 1)
    assert sql("SELECT count(*) FROM messages") == [(1,)]
    assert sql("SELECT messages.event_id = webhook_events.id FROM messages, webhook_events") == [(True,)]
    status, errors = sql("SELECT status, errors FROM webhook_events")[0]
    assert status == "processed" and "lease expired: worker worker-a" in errors[0]["message"]


def test_a_live_worker_keeps_its_lease(server, sql, db):
    add_owner(sql, "owner@example.com", "ig-1")
    deliver(server.url, ig_messages("ig-1", ["kept"]))
    [event] = queue.claim(db, "worker-a", 10, lease_seconds=0.5)
    for _ in range(4):
        time.sleep(0.2)
        queue.extend_leases(db, ["worker-a"], 0.5)
        assert queue.reclaim_expired(db) == 0
    assert queue.process(db, "worker-a", [event], handlers.dispatch, (1,)).processed == 1


AUDIT = """
CREATE TABLE audit_completions (event_id bigint, worker text);
CREATE TABLE audit_inbox_writes (external_id text);
CREATE FUNCTION audit_completion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit_completions VALUES (NEW.id, OLD.locked_by); RETURN NEW; END $$;
CREATE TRIGGER audit_completion AFTER UPDATE ON webhook_events FOR EACH ROW
    WHEN (NEW.status = 'processed' AND OLD.status IS DISTINCT FROM 'processed') EXECUTE FUNCTION audit_completion();
-- BEFORE INSERT fires even when ON CONFLICT then skips the row: every committed handler write shows.
CREATE FUNCTION audit_inbox_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit_inbox_writes VALUES (NEW.external_id); RETURN NEW; END $$;
CREATE TRIGGER audit_inbox_write BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION audit_inbox_write();
"""


@pytest.mark.slow
def test_several_workers_over_thousands_of_events_never_share_one(server, sql, settings, tmp_path):
    sql(AUDIT)
    add_owner(sql, "owner@example.com", "ig-1")
    total = 3000
    for n in range(total // 100):
        deliver(server.url, ig_messages("ig-1", [f"m{n}-{i}" for i in range(100)]))
    procs = [start_processor(settings, "--once", "--workers", "2", "--batch-size", "20",
                             log_path=tmp_path / f"worker{i}.log") for i in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert sql("SELECT status, count(*) FROM webhook_events GROUP BY status") == [("processed", total)]
    assert sql("SELECT count(*), count(DISTINCT event_id) FROM audit_completions") == [(total, total)]
    assert sql("SELECT count(*), count(DISTINCT external_id) FROM audit_inbox_writes") == [(total, total)]
    assert sql("SELECT count(*) FROM messages") == [(total,)]
    processes = sql("SELECT count(DISTINCT split_part(worker, ':', 2)) FROM audit_completions")[0][0]
    assert processes >= 2, "the work was not shared, so the test proved nothing"
    logs = "".join((tmp_path / f"worker{i}.log").read_text() for i in range(3))
    assert logs.count("run finished (once): processed=") == 3
