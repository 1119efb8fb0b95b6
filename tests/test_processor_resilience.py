"""Leases never wait on another worker's batch; worker threads that die are restarted and logged."""
import logging
import threading

import psycopg2
import pytest

from tests.support.webhooks import deliver, ig_messages, wait_until
from webhook_app.webhooks import event_queue as queue
from webhook_app.webhooks import handlers
from webhook_app.webhooks.processor import Processor


def test_extending_leases_does_not_wait_for_rows_a_batch_has_locked(server, db, database_url, sql):
    deliver(server.url, ig_messages("ig-1", ["in-a-batch", "idle"]))
    [busy] = queue.claim(db, "worker-a", 1, lease_seconds=5)
    [idle] = queue.claim(db, "worker-b", 1, lease_seconds=5)
    batch = psycopg2.connect(database_url)  # worker-a's batch transaction: its events row-locked
    with batch.cursor() as cur:
        cur.execute("SELECT id FROM webhook_events WHERE id = %s FOR UPDATE", (busy.id,))
    try:
        before = dict(sql("SELECT id, lease_expires_at FROM webhook_events"))
        done = threading.Event()
        extended = []
        keeper = threading.Thread(target=lambda: (extended.append(
            queue.extend_leases(db, ["worker-a", "worker-b"], 30)), done.set()), daemon=True)
        keeper.start()
        assert done.wait(3), "the lease keeper waited for a batch that held its rows"
        after = dict(sql("SELECT id, lease_expires_at FROM webhook_events"))
        assert after[idle.id] > before[idle.id]  # the other worker's lease was pushed back at once
    finally:
        batch.rollback()
        batch.close()
    assert queue.reclaim_expired(db) == 0  # the locked one was never at risk: reclaim skips locked rows too


# The worker thread's death is the point of the test; pytest would report it as a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_thread_that_dies_is_restarted_and_logged(settings, server, sql, caplog):
    killed = []

    def handle(tx, event):
        if not killed:
            killed.append(event.id)
            raise SystemExit("a handler that calls sys.exit")  # not an Exception: it ends the thread
        return handlers.dispatch(tx, event)

    processor = Processor(settings, workers=1, poll_interval=0.1, handle=handle)
    follower = threading.Thread(target=processor.run_follow, daemon=True)
    caplog.set_level(logging.INFO)
    follower.start()
    try:
        deliver(server.url, ig_messages("ig-1", ["first"]))
        wait_until(lambda: killed, timeout=20)
        deliver(server.url, ig_messages("ig-1", ["second"]))
        wait_until(lambda: sql("SELECT count(*) FROM webhook_events WHERE status = 'processed'")[0][0] >= 1,
                   timeout=20)
    finally:
        processor.stop_requested.set()
        follower.join(20)
        processor.close()
    assert any("died" in r.getMessage() and "restarted" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records if r.name.startswith("webhook_app")]
