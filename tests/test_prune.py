"""Retention (SPEC 8): `python -m jobs.prune` deletes old processed events only, in bounded batches."""
import subprocess
import sys

import pytest

from tests.support.live import ROOT, app_env
from tests.support.webhooks import deliver, ig_messages


@pytest.mark.slow  # starts a subprocess
def test_prune_deletes_old_processed_events_and_keeps_everything_else(server, sql, settings):
    statuses = ["processed", "processed", "pending", "failed", "dead_letter", "processed"]
    deliver(server.url, ig_messages("ig-1", [f"old-{s}-{i}" for i, s in enumerate(statuses)]))
    deliver(server.url, ig_messages("ig-1", ["recent"]))
    sql("""UPDATE webhook_events SET status = s.status, processed_at = now() - interval '31 days',
                  received_at = now() - interval '31 days'
           FROM (SELECT unnest(%s::text[]) AS status, generate_series(0, %s) AS idx) s
           WHERE delivery_id = 1 AND entry_index = s.idx""", (statuses, len(statuses) - 1))
    sql("UPDATE webhook_events SET status = 'processed', processed_at = now() WHERE delivery_id = 2")
    sql("UPDATE webhook_deliveries SET received_at = now() - interval '31 days'")
    sql("INSERT INTO webhook_deliveries (body_sha256, object, entry_count, received_at) "
        "VALUES ('\\x00', 'page', 0, now() - interval '40 days')")  # old and without events
    sql("INSERT INTO sessions (session_id, data, expires_at) VALUES ('gone', '', now() - interval '1 hour'), "
        "('live', '', now() + interval '1 hour')")

    done = subprocess.run([sys.executable, "-m", "jobs.prune", "--batch-size", "2"], cwd=ROOT, env=app_env(settings),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("prune finished (retention 30 days): events=3 deliveries=1 partitions=0 partition_events=0 "
            "kept_unfinished=0 sessions=1") in done.stdout
    assert sorted(sql("SELECT status FROM webhook_events")) == [
        ("dead_letter",), ("failed",), ("pending",), ("processed",)]
    assert sql("SELECT payload->'messaging'->0->'message'->>'mid' FROM webhook_events WHERE status = 'processed'") == [
        ("recent",)]
    assert sql("SELECT count(*) FROM webhook_deliveries") == [(2,)]  # both still have events
    assert sql("SELECT session_id FROM sessions") == [("live",)]
