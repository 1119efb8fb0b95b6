"""Two workers writing one user's conversations at once (SPEC 8, 15): the realistic mix of bench/drain_mix.py
(messages, echoes, reactions, edits, receipts, comments, WhatsApp statuses over a few thousand shared
contacts) ends in the same inbox as one worker gives, with no deadlock and no event retried."""
import time

import pytest

from bench import drain_mix
from webhook_app.webhooks.processor import Processor

EVENTS = 2000

AUDIT = """
CREATE TABLE audit_completions (event_id bigint, worker text);
CREATE FUNCTION audit_completion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit_completions VALUES (NEW.id, OLD.locked_by); RETURN NEW; END $$;
CREATE TRIGGER audit_completion AFTER UPDATE ON webhook_events FOR EACH ROW
    WHEN (NEW.status = 'processed' AND OLD.status IS DISTINCT FROM 'processed') EXECUTE FUNCTION audit_completion();
"""

# What does not depend on which batch went first: every message Meta sent (a reaction to a message not
# stored yet shows on its own, under a key of its own: those are left out), its thread, contact and content.
INBOX = """
SELECT m.channel, m.external_id, m.direction, m.kind, m.text, m.content::text,
       c.kind, c.account_id, c.contact_key, c.thread_key, k.name, k.username
FROM messages m JOIN conversations c ON c.id = m.conversation_id LEFT JOIN contacts k ON k.id = c.contact_id
WHERE m.external_id NOT LIKE 'reaction:%%' AND m.id NOT IN (
    -- an edit that arrived before its message: the message is stored from the edit (SPEC 15), whichever came first
    SELECT id FROM messages WHERE edited_at IS NOT NULL)
ORDER BY 1, 2
"""


def drain(settings, sql, workers, batch_size):
    drain_mix.seed(lambda _url, statement, params=None: sql(statement, params), None, EVENTS, "mix")
    processor = Processor(settings, workers=workers, batch_size=batch_size)
    try:
        totals = processor.run_once()
    finally:
        processor.close()
    return totals


def deadlocks(sql) -> int:
    """Deadlocks the server counted in this database, once the workers' sessions have ended and reported them."""
    deadline = time.monotonic() + 10
    while sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'process-webhooks' "
              "AND datname = current_database()")[0][0] and time.monotonic() < deadline:
        time.sleep(0.05)
    sql("SELECT pg_stat_clear_snapshot()")
    return sql("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")[0][0]


@pytest.mark.slow
def test_two_workers_on_one_users_mix_store_what_one_worker_stores_without_deadlock(settings, sql):
    sql(AUDIT)
    before = deadlocks(sql)
    totals = drain(settings, sql, workers=3, batch_size=25)
    assert (totals.processed, totals.failed, totals.dead_letter) == (EVENTS, 0, 0)
    assert sql("SELECT status, attempts, errors::text, count(*) FROM webhook_events GROUP BY 1, 2, 3") == [
        ("processed", 1, "[]", EVENTS)]
    assert sql("SELECT count(DISTINCT worker) FROM audit_completions")[0][0] >= 2, "the work was not shared"
    shared = sql(INBOX)
    assert deadlocks(sql) == before

    sql("TRUNCATE messages, message_statuses, conversations, contacts, webhook_events, webhook_deliveries, "
        "account_routes, users CASCADE")
    assert drain(settings, sql, workers=1, batch_size=500).processed == EVENTS
    alone = sql(INBOX)
    assert len(alone) > EVENTS * 0.6
    assert shared == alone
