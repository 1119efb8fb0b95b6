"""Handlers (SPEC 8): one message per Meta id whatever is redelivered; activity kept apart; the owner's only.

Every item kind in Meta's shapes is in tests/test_message_kinds.py.
"""
import pytest

from tests.support.webhooks import add_owner, deliver, ig_messages
from webhook_app.webhooks.processor import Processor


def drain(settings):
    processor = Processor(settings, workers=1)
    try:
        return processor.run_once()
    finally:
        processor.close()


def change(field, value):
    return {"field": field, "value": value}


IG = "ig-100"


@pytest.fixture
def owner(sql):
    return add_owner(sql, "owner@example.com", IG)


def test_same_batch_three_times_gives_one_event_and_one_message_per_item(server, sql, settings, owner):
    batch = ig_messages(IG, [f"mid.{n}" for n in range(5)])
    for _ in range(3):
        assert deliver(server.url, batch).status_code == 200
        drain(settings)
    assert sql("SELECT count(*) FROM webhook_events") == [(5,)]
    assert sql("SELECT count(*), count(DISTINCT external_id) FROM messages") == [(5, 5)]
    # Meta may also resend the same items in a new delivery (other bytes): new events, no new rows.
    resent = {**batch, "entry": list(reversed(batch["entry"]))}
    assert deliver(server.url, resent).status_code == 200
    drain(settings)
    assert sql("SELECT count(*) FROM webhook_events WHERE status = 'processed'") == [(10,)]
    assert sql("SELECT count(*) FROM messages") == [(5,)]
    assert sql("SELECT count(*), min(user_id), max(user_id) FROM conversations") == [(1, owner, owner)]
    assert sql("SELECT count(*) FROM interactions") == [(0,)]   # messages are not activity


def test_story_insights_sent_again_refresh_the_figures(server, sql, settings, owner):
    for reach in (10, 25):
        payload = {"object": "instagram", "entry": [{"id": IG, "changes": [
            change("story_insights", {"media_id": "story-7", "reach": reach})]}]}
        deliver(server.url, payload)
        drain(settings)
    assert sql("SELECT (data->>'reach')::int FROM interactions WHERE kind = 'story_insights'") == [(25,)]


def test_an_entry_with_nothing_to_handle_is_processed_with_a_note(server, sql, settings, owner):
    deliver(server.url, {"object": "instagram", "entry": [{"id": IG, "time": 1}]})
    drain(settings)
    assert sql("SELECT status, note FROM webhook_events") == [
        ("processed", "nothing to handle: the entry has neither messaging nor changes")]
