"""webhook_events' indexes and the processor's updates (migration 0161, issue 20): a lease extension, which
every live worker runs for every event it holds every few seconds, can be a HOT update (a new row version on
the same page, no index entry written), and status is named only by
indexes of events not yet processed."""
import json

import psycopg2

from tests.support.webhooks import add_owner, ig_messages
from webhook_app.db.queries import query
from webhook_app.webhooks import event_queue, intake
from webhook_app.webhooks.intake import Intake

_XACT_UPDATES = """
SELECT coalesce(sum(pg_stat_get_xact_tuples_updated(i.inhrelid)), 0)::int,
       coalesce(sum(pg_stat_get_xact_tuples_hot_updated(i.inhrelid)), 0)::int
FROM pg_inherits i WHERE i.inhparent = 'webhook_events'::regclass
"""


def _store(db, n: int) -> None:
    raw = json.dumps(ig_messages("ig-1", [f"m.{i}" for i in range(n)])).encode()
    assert Intake(db).store(raw, intake.parse_envelope(raw)).events == n


def test_a_lease_extension_is_a_hot_update(db, sql, database_url):
    add_owner(sql, "owner@example.com", "ig-1")
    _store(db, 20)
    assert len(event_queue.claim(db, "host:1:a:0", 20, 30)) == 20
    sql("VACUUM webhook_events")  # the claim's old row versions gone: room on their pages, as in a running system
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:  # one transaction: its own counters are read before any flush
            cur.execute(query("extend_webhook_leases"), {"workers": ["host:1:a:0"], "lease_seconds": 60})
            assert cur.rowcount == 20
            cur.execute(_XACT_UPDATES)
            updated, hot = cur.fetchone()
        conn.rollback()
    finally:
        conn.close()
    assert updated == 20
    # HOT wherever the page had room for the new version (with an index naming lease_expires_at: never).
    assert hot > 0, "no lease extension was a HOT update: an index names lease_expires_at"
    # The leases still expire and are reclaimed through the index on who holds them.
    sql("UPDATE webhook_events SET lease_expires_at = now() - interval '1 second'")
    assert event_queue.reclaim_expired(db) == 20
    assert sql("SELECT status, count(*) FROM webhook_events GROUP BY 1") == [("pending", 20)]


def test_status_is_named_only_by_the_indexes_of_events_not_yet_processed(db, sql):
    assert sql("""SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'webhook_events'::regclass
                  AND pg_get_indexdef(indexrelid) LIKE '%%status%%' ORDER BY 1""") == [
        ("webhook_events_due_idx",), ("webhook_events_held_idx",), ("webhook_events_user_failed_idx",)]
    # Each names status in its WHERE, over events not yet processed: a completion writes none of them.
    assert sorted(sql("""SELECT pg_get_expr(indpred, indrelid) FROM pg_index
                         WHERE indrelid = 'webhook_events'::regclass AND indpred IS NOT NULL
                           AND pg_get_indexdef(indexrelid) LIKE '%%status%%'""")) == sorted([
        ("(status = ANY (ARRAY['pending'::text, 'failed'::text]))",), ("(status = 'processing'::text)",),
        ("(status = ANY (ARRAY['failed'::text, 'dead_letter'::text]))",)])
