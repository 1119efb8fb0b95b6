"""Handlers (SPEC 8): every field lands in the inbox once, keyed by Meta's ids, whatever is redelivered."""
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


IG, PAGE, WABA = "ig-100", "page-200", "waba-300"

DELIVERIES = [
    {"object": "instagram", "entry": [{"id": IG, "time": 1700000000, "messaging": [
        {"sender": {"id": "c1"}, "recipient": {"id": IG}, "timestamp": 1700000000001,
         "message": {"mid": "mid.msg", "text": "hi"}},
        {"sender": {"id": IG}, "recipient": {"id": "c1"}, "timestamp": 1700000000002,
         "message": {"mid": "mid.echo", "text": "hello back", "is_echo": True}},
        {"sender": {"id": "c1"}, "recipient": {"id": IG}, "timestamp": 1700000000003,
         "reaction": {"mid": "mid.msg", "action": "react", "reaction": "love", "emoji": "\u2764"}},
        {"sender": {"id": "c1"}, "recipient": {"id": IG}, "timestamp": 1700000000004,
         "postback": {"mid": "mid.postback", "title": "Start", "payload": "START"}},
        {"sender": {"id": "c1"}, "recipient": {"id": IG}, "timestamp": 1700000000005, "read": {"mid": "mid.echo"}},
        {"sender": {"id": "c1"}, "recipient": {"id": IG}, "timestamp": 1700000000006,
         "message": {"mid": "mid.gone", "is_deleted": True}},
    ]}]},
    {"object": "instagram", "entry": [{"id": IG, "time": 1700000001, "changes": [
        change("comments", {"id": "comment-1", "text": "nice", "from": {"id": "c2", "username": "c2"},
                            "media": {"id": "media-1"}}),
        change("live_comments", {"id": "live-1", "text": "live!", "from": {"id": "c3"}}),
        change("mentions", {"media_id": "media-9", "comment_id": "comment-9"}),
        change("story_insights", {"media_id": "story-1", "impressions": 44, "reach": 40}),
    ]}]},
    {"object": "page", "entry": [{"id": PAGE, "time": 1700000002, "changes": [
        change("feed", {"item": "comment", "verb": "add", "post_id": "p_1", "comment_id": "p_1_c1",
                        "from": {"id": "fan"}, "message": "great post", "created_time": 1700000002}),
    ]}]},
    {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [
        change("messages", {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "phone-1"},
                            "messages": [{"from": "4917", "id": "wamid.in", "timestamp": "1700000003",
                                          "type": "text", "text": {"body": "hallo"}}],
                            "statuses": [{"id": "wamid.out", "status": "delivered", "timestamp": "1700000004",
                                          "recipient_id": "4918"}]}),
        change("message_template_status_update", {"event": "APPROVED", "message_template_id": 777,
                                                  "message_template_name": "welcome",
                                                  "message_template_language": "en_US"}),
        change("template_category_update", {"message_template_id": 777, "message_template_name": "welcome",
                                            "previous_category": "UTILITY", "new_category": "MARKETING"}),
    ]}]},
]

EXPECTED = {
    ("instagram", "message", "mid.msg"), ("instagram", "echo", "mid.echo"),
    ("instagram", "reaction", "mid.msg:c1:react:1700000000003"), ("instagram", "postback", "mid.postback"),
    ("instagram", "read", "mid.echo:c1"), ("instagram", "deleted", "mid.gone"),
    ("instagram", "comment", "comment-1"), ("instagram", "live_comment", "live-1"),
    ("instagram", "mention", "comment-9"), ("instagram", "story_insights", "story-1"),
    ("facebook", "feed", "p_1_c1:comment:add:fan:1700000002"),
    ("whatsapp", "whatsapp_message", "wamid.in"), ("whatsapp", "whatsapp_status", "wamid.out:delivered"),
    ("whatsapp", "template_status", "777:APPROVED"), ("whatsapp", "template_category", "777:MARKETING"),
}


@pytest.fixture
def owner(sql):
    user = add_owner(sql, "owner@example.com", IG)
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES (%s, %s, 'page'), (%s, %s, 'whatsapp_business')",
        (PAGE, user, WABA, user))
    return user


def inbox(sql):
    return set(sql("SELECT platform, kind, external_id FROM interactions"))


def test_every_field_lands_in_the_owners_inbox(server, sql, settings, owner):
    for payload in DELIVERIES:
        assert deliver(server.url, payload).status_code == 200
    totals = drain(settings)
    assert totals.processed == 4 and totals.failed == 0
    assert inbox(sql) == EXPECTED
    assert sql("SELECT DISTINCT user_id FROM interactions") == [(owner,)]
    assert sql("SELECT text, sender_id FROM interactions WHERE external_id = 'wamid.in'") == [("hallo", "4917")]
    assert sql("SELECT account_id FROM interactions WHERE external_id = 'wamid.in'") == [("phone-1",)]
    assert sql("SELECT occurred_at = to_timestamp(1700000000.001) FROM interactions WHERE kind = 'message'") == [(True,)]
    assert sql("SELECT count(*) FROM webhook_events WHERE status = 'processed' AND note IS NULL") == [(4,)]
    # When they were processed is on the events; a batch that went well writes no per-user row (SPEC 18).
    assert sql("SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL") == [(4,)]
    assert sql("SELECT count(*) FROM webhook_health WHERE user_id = %s", (owner,)) == [(0,)]


def test_same_batch_three_times_gives_one_event_and_one_inbox_row_per_item(server, sql, settings, owner):
    batch = ig_messages(IG, [f"mid.{n}" for n in range(5)])
    for _ in range(3):
        assert deliver(server.url, batch).status_code == 200
        drain(settings)
    assert sql("SELECT count(*) FROM webhook_events") == [(5,)]
    assert sql("SELECT count(*), count(DISTINCT external_id) FROM interactions") == [(5, 5)]
    # Meta may also resend the same items in a new delivery (other bytes): new events, no new rows.
    resent = {**batch, "entry": list(reversed(batch["entry"]))}
    assert deliver(server.url, resent).status_code == 200
    drain(settings)
    assert sql("SELECT count(*) FROM webhook_events WHERE status = 'processed'") == [(10,)]
    assert sql("SELECT count(*) FROM interactions") == [(5,)]


def test_field_without_handler_is_processed_with_a_note(server, sql, settings, owner):
    payload = {"object": "instagram", "entry": [{"id": IG, "changes": [change("message_edit", {"id": "x"})]}]}
    assert deliver(server.url, payload).status_code == 200
    drain(settings)
    assert sql("SELECT status, note FROM webhook_events") == [("processed", "no handler for instagram/message_edit")]
    assert inbox(sql) == set()


def test_story_insights_sent_again_refresh_the_figures(server, sql, settings, owner):
    for reach in (10, 25):
        payload = {"object": "instagram", "entry": [{"id": IG, "changes": [
            change("story_insights", {"media_id": "story-7", "reach": reach})]}]}
        deliver(server.url, payload)
        drain(settings)
    assert sql("SELECT (data->>'reach')::int FROM interactions WHERE kind = 'story_insights'") == [(25,)]


def test_payload_without_metas_id_fails_with_the_reason(server, sql, settings, owner):
    settings = settings.with_overrides(webhook_retry_delays=())
    payload = {"object": "instagram", "entry": [{"id": IG, "messaging": [{"message": {"text": "no mid"}}]}]}
    deliver(server.url, payload)
    drain(settings)
    status, errors = sql("SELECT status, errors FROM webhook_events")[0]
    assert status == "dead_letter"
    assert errors[0]["message"] == "MalformedEvent: a message has no mid" and errors[0]["attempt"] == 1
    assert inbox(sql) == set()
