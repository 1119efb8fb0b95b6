"""The intake on the real database (SPEC 18): deliveries for the same owner commit side by side instead of
queueing on a shared counter row, and the processors are NOTIFYed only while one of them naps."""
import json
import select
import threading

import psycopg2
import pytest

from tests.support.webhooks import add_owner, ig_messages
from webhook_app.db.queries import query
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.webhooks import event_queue, intake
from webhook_app.webhooks.intake import Intake, Stored


def delivery(payload) -> tuple[bytes, intake.Envelope]:
    raw = json.dumps(payload).encode()
    return raw, intake.parse_envelope(raw)


def test_a_delivery_does_not_wait_for_another_uncommitted_one_of_the_same_owner(db, sql, database_url):
    add_owner(sql, "owner@example.com", "ig-1")
    # Another receiver (another host) is in the middle of storing a delivery for the same owner.
    other = psycopg2.connect(database_url)
    try:
        with other.cursor() as cur:
            raw, _ = delivery(ig_messages("ig-1", ["m.other"]))
            cur.execute(query("store_deliveries"), {"digests": intake.hashlib.sha256(raw).digest(),
                                                    "bodies": "[" + raw.decode() + "]",
                                                    "requests": '[{"headers": {}}]'})
        outcome = []
        store = threading.Thread(target=lambda: outcome.append(Intake(db).store(*delivery(ig_messages("ig-1", ["m.mine"])))))
        store.start()
        store.join(10)  # a shared row would hold it until the other transaction ends
        assert outcome == [Stored(duplicate=False, events=1)], "the delivery waited for another one's commit"
        other.rollback()
    finally:
        other.close()
    assert sql("SELECT entry_id, payload -> 'messaging' -> 0 -> 'message' ->> 'mid' FROM webhook_events") == [
        ("ig-1", "m.mine")]


def _listener(database_url):
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    conn.cursor().execute("LISTEN webhook_events")
    return conn


def _notified(conn, timeout: float) -> bool:
    if select.select([conn], [], [], timeout)[0]:
        conn.poll()
    found = bool(conn.notifies)
    conn.notifies.clear()
    return found


def test_the_processors_are_notified_only_while_one_naps(db, sql, database_url):
    listener = _listener(database_url)
    store = Intake(db)
    try:
        assert store.store(*delivery(ig_messages("ig-1", ["m.1"]))).events == 1
        assert not _notified(listener, 0.2)  # every processor busy (none naps): no notifying commit

        sql("INSERT INTO webhook_processor_naps (worker, until) VALUES ('host:1:a:0', now() + interval '5 seconds')")
        assert store.store(*delivery(ig_messages("ig-1", ["m.2"]))).events == 1
        assert _notified(listener, 5)
        assert store.store(*delivery(ig_messages("ig-1", ["m.2"]))).duplicate  # nothing new: nobody to wake
        assert not _notified(listener, 0.2)

        sql("UPDATE webhook_processor_naps SET until = now() - interval '1 second'")  # a nap long over (dead worker)
        assert store.store(*delivery(ig_messages("ig-1", ["m.3"]))).events == 1
        assert not _notified(listener, 0.2)
    finally:
        listener.close()
    assert sql("SELECT count(*) FROM webhook_events") == [(3,)]


def test_a_nap_is_recorded_per_worker_and_the_naps_of_workers_long_gone_are_forgotten(db, sql):
    sql("INSERT INTO webhook_processor_naps (worker, until) VALUES ('gone:1:a:0', now() - interval '2 hours')")
    event_queue.nap(db, "host:2:b:0", 1.5)
    event_queue.nap(db, "host:2:b:0", 1.5)  # the same worker again: one row, pushed back
    assert sql("SELECT worker, until > now() + interval '1 second' FROM webhook_processor_naps") == [
        ("host:2:b:0", True)]


def test_a_nap_recorded_while_a_delivery_is_being_stored_waits_for_it_so_the_delivery_is_not_missed(db, sql, database_url):
    """The intake reads the naps inside its own statement (one round trip, migration 0160). A follower that
    records its nap while such a statement is under way, having read no nap, must not look for work before
    that delivery commits: it would find nothing, and nobody would wake it until its poll."""
    add_owner(sql, "owner@example.com", "ig-1")
    other = psycopg2.connect(database_url)  # another receiver, mid-way through its batch
    try:
        with other.cursor() as cur:
            raw, _ = delivery(ig_messages("ig-1", ["m.late"]))
            cur.execute(query("store_deliveries"), {"digests": intake.hashlib.sha256(raw).digest(),
                                                    "bodies": "[" + raw.decode() + "]",
                                                    "requests": '[{"headers": {}}]'})
            assert [row[1] for row in cur.fetchall()] == [False]  # nobody napped when it looked
        # Held past the lock timeout (an intake statement stuck): the nap gives up, and the follower polls.
        with pytest.raises(DatabaseUnavailable, match="lock timeout"):
            event_queue.nap(db, "host:3:c:0", 5)
        assert sql("SELECT count(*) FROM webhook_processor_naps") == [(0,)]
        napped = threading.Event()
        follower = threading.Thread(target=lambda: (event_queue.nap(db, "host:3:c:0", 5), napped.set()))
        follower.start()
        assert not napped.wait(0.5), "the nap was recorded while a delivery that had not seen it was uncommitted"
        other.commit()
        assert napped.wait(10)
        follower.join(10)
        # The follower's look after its nap (processor._nap) now finds the delivery's event.
        assert event_queue.seconds_until_due(db) is not None
    finally:
        other.close()
    # A batch that starts after the nap reads it, and so NOTIFYs.
    listener = _listener(database_url)
    try:
        assert Intake(db).store(*delivery(ig_messages("ig-1", ["m.after"]))).events == 1
        assert _notified(listener, 5)
    finally:
        listener.close()
