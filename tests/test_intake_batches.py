"""One batch of deliveries as the group commit hands it to the intake (webhook_app/intake.py), on the real
database: new, repeated and refused bodies side by side each get their own outcome, and the log says what
was stored every few seconds instead of once per commit."""
import json
import logging

from tests.support.webhooks import ig_messages
from webhook_app.webhooks import intake
from webhook_app.webhooks.intake import Intake, InvalidEnvelope, Stored


def delivery(payload) -> intake._Delivery:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return intake._Delivery(intake.hashlib.sha256(raw).digest(), intake.parse_envelope(raw))


def test_a_batch_of_new_repeated_and_refused_bodies_keeps_each_outcome(db, sql):
    store = Intake(db)
    before = delivery(ig_messages("ig-1", ["m.before"]))
    assert store._store_batch([before]) == [Stored(duplicate=False, events=1)]

    new = delivery(ig_messages("ig-1", ["m.new"]))
    two_entries = delivery({"object": "page", "entry": [{"id": "p-1", "changes": [{"field": "feed", "value": {}}]},
                                                          {"id": "p-2", "changes": [{"field": "feed", "value": {}}]}]})
    # Python reads it, PostgreSQL's jsonb refuses it: the rest of the batch must still be stored.
    refused = delivery(b'{"object": "page", "entry": [{"id": "\\u0000"}]}')
    outcomes = store._store_batch([new, before, two_entries, refused, new])

    assert outcomes[0] == Stored(duplicate=False, events=1)
    assert outcomes[1] == Stored(duplicate=True)  # stored by the first batch
    assert outcomes[2] == Stored(duplicate=False, events=2)
    assert isinstance(outcomes[3], InvalidEnvelope)
    assert outcomes[4] == Stored(duplicate=True)  # the same bytes twice in one batch
    assert sql("SELECT count(*) FROM webhook_deliveries") == [(3,)]
    assert sql("SELECT object, field, entry_id, entry_index, status FROM webhook_events ORDER BY id") == [
        ("instagram", "messaging", "ig-1", 0, "pending"), ("instagram", "messaging", "ig-1", 0, "pending"),
        ("page", "feed", "p-1", 0, "pending"), ("page", "feed", "p-2", 1, "pending")]
    assert sql("SELECT duplicate_count FROM webhook_deliveries ORDER BY id") == [(1,), (1,), (0,)]
    assert sql("SELECT count(*) FROM webhook_health") == [(0,)]  # no shared counter row (SPEC 18)


def test_the_log_sums_up_commits_instead_of_a_line_each(db, caplog):
    store = Intake(db)
    clock = [1000.0]
    store._clock = lambda: clock[0]
    caplog.set_level(logging.INFO, logger="webhook_app.webhooks.intake")

    def lines():
        return [r.getMessage() for r in caplog.records if r.name == "webhook_app.webhooks.intake" and r.levelno == logging.INFO]

    store._store_batch([delivery(ig_messages("ig-1", ["m.1"]))])
    assert lines() == ["stored 1 deliveries (1 events) in 1 commits; 0 were already stored"]  # the first at once
    clock[0] += 1
    store._store_batch([delivery(ig_messages("ig-1", ["m.2"])), delivery(ig_messages("ig-1", ["m.3"]))])
    store._store_batch([delivery(ig_messages("ig-1", ["m.1"]))])
    assert len(lines()) == 1  # within the interval: counted, not logged
    clock[0] += Intake.SUMMARY_SECONDS
    store._store_batch([delivery(ig_messages("ig-1", ["m.4"]))])
    assert lines()[1:] == ["stored 3 deliveries (3 events) in 3 commits; 1 were already stored"]
