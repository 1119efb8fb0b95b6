"""The processor as systemd runs it: --once, --follow woken by NOTIFY, SIGTERM, kill -9 recovery."""
import random
import signal
import time

import pytest

from tests.support.webhooks import add_owner, deliver, ig_messages, start_processor, status_counts, wait_until

pytestmark = pytest.mark.slow  # starts processor processes and kills them


def test_once_drains_what_is_due_and_exits_0(server, sql, settings, tmp_path):
    add_owner(sql, "owner@example.com", "ig-1")
    deliver(server.url, ig_messages("ig-1", [f"m{i}" for i in range(30)]))
    log = tmp_path / "once.log"
    proc = start_processor(settings, "--once", "--batch-size", "7", log_path=log)
    assert proc.wait(60) == 0
    assert status_counts(sql) == {"processed": 30}
    assert sql("SELECT count(*) FROM messages") == [(30,)]
    assert "run finished (once): processed=30 failed=0 dead_letter=0" in log.read_text()


def test_follow_wakes_on_notify_and_stops_cleanly_on_sigterm(server, sql, settings, tmp_path):
    log = tmp_path / "follow.log"
    # Polling every 60 s: only the NOTIFY can explain a quick pick-up.
    proc = start_processor(settings, "--follow", "--poll-interval", "60", log_path=log)
    try:
        wait_until(lambda: "following the queue" in log.read_text(), timeout=30)
        time.sleep(0.3)  # the listener's LISTEN is in place
        waits = []
        for n in range(5):
            assert deliver(server.url, ig_messages("ig-1", [f"live-{n}"])).status_code == 200
            sent = time.monotonic()
            wait_until(lambda: sql("SELECT count(*) FROM webhook_events WHERE status = 'processed'")[0][0] == n + 1,
                       timeout=5, interval=0.005)
            waits.append(time.monotonic() - sent)
        assert max(waits) < 1.0, waits
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "Stop requested (SIGTERM)" in text
    assert "run finished (follow): processed=5" in text


def test_kill_9_mid_batch_repeatedly_loses_nothing_and_doubles_nothing(server, sql, settings, tmp_path):
    lease = 2.0
    add_owner(sql, "owner@example.com", "ig-1")
    sql("""CREATE TABLE audit_inbox_writes (external_id text);
           CREATE FUNCTION audit_inbox_write() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO audit_inbox_writes VALUES (NEW.external_id); RETURN NEW; END $$;
           CREATE TRIGGER audit_inbox_write BEFORE INSERT ON messages FOR EACH ROW
               EXECUTE FUNCTION audit_inbox_write();""")
    log = tmp_path / "crash.log"
    env = {"WEBHOOK_LEASE_SECONDS": str(lease)}
    total, kills_mid_batch = 0, 0
    for round_no in range(5):
        for d in range(10):
            deliver(server.url, ig_messages("ig-1", [f"r{round_no}-d{d}-{i}" for i in range(100)]))
            total += 100
        proc = start_processor(settings, "--follow", "--workers", "2", "--batch-size", "50", log_path=log, **env)
        # Kill while the worker holds claimed events, at a random moment.
        wait_until(lambda: status_counts(sql).get("processing", 0) > 0, timeout=30, interval=0.002)
        time.sleep(random.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = time.monotonic()
        stuck = status_counts(sql).get("processing", 0)
        kills_mid_batch += stuck > 0
    assert kills_mid_batch >= 3, "the kills did not land mid-batch, so the test proved nothing"

    survivor = start_processor(settings, "--follow", "--workers", "2", "--batch-size", "50", log_path=log, **env)
    try:
        wait_until(lambda: status_counts(sql) == {"processed": total}, timeout=lease + 20, interval=0.05)
        recovered_in = time.monotonic() - killed_at
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(10) == 0
    finally:
        if survivor.poll() is None:
            survivor.kill()
    assert recovered_in < lease + 5, recovered_in  # lease, reclaim check, then the work itself
    assert sql("SELECT count(*), count(DISTINCT external_id) FROM messages") == [(total, total)]
    assert sql("SELECT count(*), count(DISTINCT external_id) FROM audit_inbox_writes") == [(total, total)]
    assert sql("SELECT count(*) FROM webhook_events WHERE errors::text LIKE '%%lease expired%%'")[0][0] > 0
