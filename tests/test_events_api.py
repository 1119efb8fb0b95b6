"""The dashboard's JSON API for webhook events and the inbox (SPEC 6), over real HTTP."""
from __future__ import annotations

import pytest

from tests.support.live import AuthActions, Browser
from tests.support.rows import insert_event, insert_interaction, user_id


@pytest.fixture
def owner(auth, browser, sql):
    """The logged-in user: their browser and their id."""
    auth.register("owner@example.com")
    auth.login("owner@example.com")
    return user_id(sql, "owner@example.com")


@pytest.fixture
def stranger(server, sql):
    """Another registered, logged-in user."""
    other = Browser(server.url)
    actions = AuthActions(other)
    actions.register("stranger@example.com")
    actions.login("stranger@example.com")
    other.get("/")
    return other, user_id(sql, "stranger@example.com")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["events"]]


def test_list_is_newest_first_and_filters_by_status_object_field_and_time(browser, owner, sql):
    old = insert_event(sql, owner, status="processed", received_at="2025-01-01T10:00:00Z")
    failed = insert_event(sql, owner, status="failed", object="page", field="feed",
                          received_at="2025-01-02T10:00:00Z")
    dead = insert_event(sql, owner, status="dead_letter", object="whatsapp_business_account",
                        field="messages", received_at="2025-01-03T10:00:00Z")
    new = insert_event(sql, owner, status="pending", received_at="2025-01-04T10:00:00Z")

    assert ids(browser.api("GET", "/api/webhook-events")) == [new, dead, failed, old]
    assert ids(browser.api("GET", "/api/webhook-events?status=failed")) == [failed]
    assert ids(browser.api("GET", "/api/webhook-events?object=page")) == [failed]
    assert ids(browser.api("GET", "/api/webhook-events?field=messages")) == [dead]
    assert ids(browser.api("GET", "/api/webhook-events?since=2025-01-02T00:00:00Z&until=2025-01-04T00:00:00Z")) \
        == [dead, failed]
    assert ids(browser.api("GET", "/api/webhook-events?status=processed&object=instagram")) == [old]
    # An offset typed straight into the URL: its "+" reaches the server as a space.
    assert ids(browser.api("GET", "/api/webhook-events?since=2025-01-02T11:00:00+01:00&until=2025-01-04T01:00:00+01:00")) \
        == [dead, failed]

    listed = browser.api("GET", "/api/webhook-events?status=failed").json()["events"][0]
    assert listed["received_at"].startswith("2025-01-02T10:00:00")
    assert listed["object"] == "page" and listed["field"] == "feed"
    assert "payload" not in listed  # the list stays light; the detail has the payload


@pytest.mark.parametrize("query, message", [
    ("status=lost", "'status' must be one of"),
    ("limit=0", "'limit' must be between"),
    ("limit=lots", "'limit' must be a whole number"),
    ("before=not-a-cursor", "'before' cursor"),
    ("since=yesterday", "'since' must be an ISO 8601 time"),
])
def test_a_bad_filter_or_cursor_is_a_400_that_says_what_is_wrong(browser, owner, query, message):
    response = browser.api("GET", f"/api/webhook-events?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_cursor_pages_have_no_duplicates_or_gaps_while_new_events_arrive(browser, owner, sql):
    # Several events share one received_at, so the cursor has to break ties by id.
    existing = [insert_event(sql, owner, received_at=f"2025-03-01T12:00:{second:02d}Z")
                for second in (0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 7, 8, 9, 9, 10, 11, 12, 13, 14, 15)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        path = "/api/webhook-events?limit=5" + (f"&before={cursor}" if cursor else "")
        body = browser.api("GET", path).json()
        seen += [event["id"] for event in body["events"]]
        pages += 1
        # Meta keeps delivering while the user pages: a new event, and one stamped with the very
        # time of the last event on this page (a higher id at the same time sorts before the cursor).
        insert_event(sql, owner)
        if body["events"]:
            insert_event(sql, owner, received_at=body["events"][-1]["received_at"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    newest_first = sorted(existing, key=lambda i: (sql("SELECT received_at FROM webhook_events WHERE id = %s",
                                                        (i,))[0][0], i), reverse=True)
    assert seen == newest_first
    assert len(seen) == len(set(seen)) == 23
    assert pages == 5


def test_the_last_page_has_no_cursor_and_an_exact_page_does_not_leave_an_empty_one(browser, owner, sql):
    for _ in range(4):
        insert_event(sql, owner)
    first = browser.api("GET", "/api/webhook-events?limit=2").json()
    second = browser.api("GET", f"/api/webhook-events?limit=2&before={first['next_cursor']}").json()
    assert len(first["events"]) == len(second["events"]) == 2
    assert second["next_cursor"] is None


def test_paging_keeps_the_filter(browser, owner, sql):
    failed = [insert_event(sql, owner, status="failed", received_at=f"2025-05-01T00:00:0{i}Z") for i in range(5)]
    for i in range(5):
        insert_event(sql, owner, status="processed", received_at=f"2025-05-01T00:00:0{i}Z")
    first = browser.api("GET", "/api/webhook-events?status=failed&limit=3").json()
    rest = browser.api("GET", f"/api/webhook-events?status=failed&limit=3&before={first['next_cursor']}").json()
    assert [e["id"] for e in first["events"] + rest["events"]] == failed[::-1]


def test_detail_shows_payload_attempts_and_error_history(browser, owner, sql):
    errors = [{"attempt": 1, "at": "2025-01-01T00:00:01Z", "message": "KeyError: 'value'"},
              {"attempt": 2, "at": "2025-01-01T00:00:06Z", "message": "KeyError: 'value'"}]
    event = insert_event(sql, owner, status="failed", attempts=2, errors=errors,
                         payload={"id": "1789", "changes": [{"field": "comments", "value": {"text": "hi"}}]})
    detail = browser.api("GET", f"/api/webhook-events/{event}").json()
    assert detail["id"] == event
    assert detail["payload"]["changes"][0]["value"]["text"] == "hi"
    assert detail["attempts"] == 2
    assert [e["message"] for e in detail["errors"]] == ["KeyError: 'value'", "KeyError: 'value'"]
    assert detail["status"] == "failed"


def test_retry_puts_a_failed_event_back_to_pending_and_refuses_others(browser, owner, sql):
    failed = insert_event(sql, owner, status="dead_letter", attempts=4,
                          errors=[{"attempt": 4, "at": "2025-01-01T00:00:00Z", "message": "boom"}])
    sql("UPDATE webhook_events SET run_at = now() - interval '1 day' WHERE id = %s", (failed,))
    processed = insert_event(sql, owner, status="processed")

    response = browser.api("POST", f"/api/webhook-events/{failed}/retry")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    status, due_now, errors = sql("SELECT status, run_at > now() - interval '1 minute', errors FROM webhook_events "
                                  "WHERE id = %s", (failed,))[0]
    assert (status, due_now) == ("pending", True)
    assert errors[0]["message"] == "boom"  # the history stays

    refused = browser.api("POST", f"/api/webhook-events/{processed}/retry")
    assert refused.status_code == 409
    assert "processed" in refused.json()["error"]
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (processed,))[0][0] == "processed"


def test_retry_and_delete_need_the_csrf_token(browser, owner, sql):
    event = insert_event(sql, owner, status="failed")
    assert browser.api("POST", f"/api/webhook-events/{event}/retry", csrf=False).status_code == 400
    assert browser.api("DELETE", f"/api/webhook-events/{event}", csrf=False).status_code == 400
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (event,))[0][0] == "failed"


def test_delete_removes_the_event(browser, owner, sql):
    event = insert_event(sql, owner, status="processed")
    response = browser.api("DELETE", f"/api/webhook-events/{event}")
    assert response.status_code == 200
    assert browser.api("GET", f"/api/webhook-events/{event}").status_code == 404
    assert sql("SELECT count(*) FROM webhook_events WHERE id = %s", (event,))[0][0] == 0
    assert browser.api("DELETE", f"/api/webhook-events/{event}").status_code == 404


def test_bulk_retry_puts_back_every_failed_or_dead_letter_event_matching_the_filter(browser, owner, stranger, sql):
    _, stranger_id = stranger
    ig_failed = insert_event(sql, owner, status="failed", object="instagram")
    ig_dead = insert_event(sql, owner, status="dead_letter", object="instagram")
    page_failed = insert_event(sql, owner, status="failed", object="page")
    ig_processed = insert_event(sql, owner, status="processed", object="instagram")
    theirs = insert_event(sql, stranger_id, status="failed", object="instagram")

    response = browser.api("POST", "/api/webhook-events/retry", json={"object": "instagram"})
    assert response.status_code == 200
    assert response.json() == {"retried": 2}
    status = dict(sql("SELECT id, status FROM webhook_events"))
    assert status[ig_failed] == status[ig_dead] == "pending"
    assert status[page_failed] == "failed"
    assert status[ig_processed] == "processed"
    assert status[theirs] == "failed"

    assert browser.api("POST", "/api/webhook-events/retry", json={"status": "dead_letter"}).json() == {"retried": 0}
    assert browser.api("POST", "/api/webhook-events/retry", json={}).json() == {"retried": 1}
    assert browser.api("POST", "/api/webhook-events/retry", json={"status": "processed"}).status_code == 409


def test_every_event_endpoint_answers_404_for_another_users_event(browser, owner, stranger, sql):
    _, stranger_id = stranger
    theirs = insert_event(sql, stranger_id, status="failed", payload={"id": "secret-page", "changes": []})
    missing = theirs + 1000

    for event_id in (theirs, missing):
        for method, path in [("GET", f"/api/webhook-events/{event_id}"),
                             ("POST", f"/api/webhook-events/{event_id}/retry"),
                             ("DELETE", f"/api/webhook-events/{event_id}")]:
            response = browser.api(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json() == {"error": "No such event."}
            assert "secret-page" not in response.text

    assert theirs not in ids(browser.api("GET", "/api/webhook-events"))
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (theirs,))[0][0] == "failed"
    stats = browser.api("GET", "/api/webhook-events/stats").json()
    assert stats["total"] == 0


def test_the_api_needs_a_login(server):
    anonymous = Browser(server.url)
    for method, path in [("GET", "/api/webhook-events"), ("GET", "/api/webhook-events/stats"),
                         ("GET", "/api/webhook-events/1"), ("POST", "/api/webhook-events/1/retry"),
                         ("DELETE", "/api/webhook-events/1"), ("POST", "/api/webhook-events/retry"),
                         ("GET", "/api/interactions")]:
        response = anonymous.api(method, path, csrf=False)
        assert response.status_code in (400, 401), (method, path)  # 400: no CSRF token on a write
        if method == "GET":
            assert response.status_code == 401 and response.json()["error"]


def test_stats_count_by_status_and_follow_every_change(browser, owner, stranger, sql):
    _, stranger_id = stranger
    a = insert_event(sql, owner, status="pending")
    b = insert_event(sql, owner, status="pending")
    c = insert_event(sql, owner, status="failed")
    insert_event(sql, owner, status="processed")
    insert_event(sql, stranger_id, status="failed")
    insert_event(sql, None, status="pending")  # owner unknown: nobody's

    def counts():
        body = browser.api("GET", "/api/webhook-events/stats").json()
        return {k: v for k, v in body["counts"].items() if v}, body

    assert counts()[0] == {"pending": 2, "failed": 1, "processed": 1}

    # What the processor does: claim, then finish or fail; and what the user does: delete.
    sql("UPDATE webhook_events SET status = 'processing' WHERE id IN (%s, %s)", (a, b))
    assert counts()[0] == {"processing": 2, "failed": 1, "processed": 1}
    sql("UPDATE webhook_events SET status = 'processed', processed_at = now() WHERE id = %s", (a,))
    sql("UPDATE webhook_events SET status = 'dead_letter' WHERE id = %s", (b,))
    sql("DELETE FROM webhook_events WHERE id = %s", (c,))
    got, body = counts()
    assert got == {"processed": 2, "dead_letter": 1}
    assert body["total"] == 3

    actual = dict(sql("SELECT status, count(*) FROM webhook_events WHERE user_id = %s GROUP BY status", (owner,)))
    assert got == actual

    day = body["last_24h"]
    assert day == {"received": 4, "processed": 2, "failed": 2}  # inserted failed + dead-lettered
    assert body["per_minute_fields"] == ["minute", "received", "processed", "failed"]
    assert sum(m[1] for m in body["per_minute"]) == 4


def test_stats_ignore_minutes_older_than_a_day(browser, owner, sql):
    insert_event(sql, owner, status="pending", received_at="2020-01-01T00:00:00Z")
    insert_event(sql, owner, status="pending")
    body = browser.api("GET", "/api/webhook-events/stats").json()
    assert body["counts"]["pending"] == 2
    assert body["last_24h"]["received"] == 1
    assert len(body["per_minute"]) == 1


def test_stats_show_the_webhook_verification(browser, owner, sql):
    assert browser.api("GET", "/api/webhook-events/stats").json()["webhook"]["verified"] is False
    sql("INSERT INTO webhook_health (user_id, verified_at) VALUES (NULL, now())")
    assert browser.api("GET", "/api/webhook-events/stats").json()["webhook"]["verified"] is True


def test_a_deleted_user_does_not_break_and_leaves_no_counts(browser, owner, stranger, sql):
    _, stranger_id = stranger
    insert_event(sql, stranger_id, status="failed")
    sql("DELETE FROM users WHERE id = %s", (stranger_id,))
    assert sql("SELECT user_id FROM webhook_events")[0][0] is None
    assert sql("SELECT coalesce(sum(n), 0) FROM webhook_status_counts WHERE user_id = %s", (stranger_id,))[0][0] == 0


def test_inbox_is_newest_first_paged_and_only_mine(browser, owner, stranger, sql):
    _, stranger_id = stranger
    mine = [insert_interaction(sql, owner, external_id=f"mid-{i}", text=f"message {i}",
                               occurred_at=f"2025-02-01T00:00:0{i}Z") for i in range(5)]
    undated = insert_interaction(sql, owner, external_id="mid-undated", occurred_at=None)
    insert_interaction(sql, stranger_id, external_id="mid-theirs", text="not yours")

    first = browser.api("GET", "/api/interactions?limit=4").json()
    rest = browser.api("GET", f"/api/interactions?limit=4&before={first['next_cursor']}").json()
    listed = [i["id"] for i in first["interactions"] + rest["interactions"]]
    # The undated one sorts by when it arrived (now), so it is the newest.
    assert listed == [undated] + mine[::-1]
    assert rest["next_cursor"] is None
    assert first["interactions"][1]["text"] == "message 4"
    assert "not yours" not in str(first) + str(rest)

    only_comments = browser.api("GET", "/api/interactions?kind=comment").json()
    assert only_comments["interactions"] == []


def test_stats_stay_exact_while_many_workers_change_one_users_events_at_once(browser, owner, sql, database_url):
    import threading

    import psycopg2

    events = [insert_event(sql, owner, status="pending") for _ in range(120)]
    browser.api("GET", "/api/webhook-events/stats")  # fold what the inserts left
    errors: list[Exception] = []

    def worker(chunk: list[int]) -> None:
        """A processor's pattern: claim a few, then finish most and fail one, each in its own transaction."""
        conn = psycopg2.connect(database_url)
        try:
            for i in range(0, len(chunk), 4):
                batch = chunk[i:i + 4]
                with conn, conn.cursor() as cur:
                    cur.execute("UPDATE webhook_events SET status = 'processing' WHERE id = ANY(%s)", (batch,))
                with conn, conn.cursor() as cur:
                    cur.execute("UPDATE webhook_events SET status = 'processed', processed_at = now() "
                                "WHERE id = ANY(%s)", (batch[1:],))
                    cur.execute("UPDATE webhook_events SET status = 'failed' WHERE id = %s", (batch[0],))
        except Exception as exc:  # a deadlock or serialization error would land here
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(events[n::6],)) for n in range(6)]
    readers_done = threading.Event()

    def reader() -> None:
        while not readers_done.is_set():
            assert browser.api("GET", "/api/webhook-events/stats").status_code == 200

    watching = threading.Thread(target=reader)
    watching.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    readers_done.set()
    watching.join()

    assert errors == []
    counts = browser.api("GET", "/api/webhook-events/stats").json()
    assert {k: v for k, v in counts["counts"].items() if v} == {"processed": 90, "failed": 30}
    assert counts["last_24h"] == {"received": 120, "processed": 90, "failed": 30}


def test_search_and_filters_are_case_insensitive_and_match_from_the_start(browser, owner, sql):
    comment = insert_event(sql, owner, object="instagram", field="comments",
                           payload={"id": "17841400000000001", "time": 1700000000, "changes": [{"field": "comments",
                                    "value": {"from": {"id": "232323", "username": "lisbon.fan"},
                                              "media": {"id": "123123", "media_product_type": "FEED"},
                                              "id": "17865799348089039", "text": "Do you ship to Lisbon?"}}]})
    feed = insert_event(sql, owner, object="page", field="feed")
    assert ids(browser.api("GET", "/api/webhook-events?object=Instagram")) == [comment]
    assert ids(browser.api("GET", "/api/webhook-events?field=comment")) == [comment]
    assert ids(browser.api("GET", "/api/webhook-events?object=PAGE&field=Feed")) == [feed]
    # Search: payload text, the event id, Meta's entry id.
    assert ids(browser.api("GET", "/api/webhook-events?q=lisbon")) == [comment]
    assert feed in ids(browser.api("GET", f"/api/webhook-events?q={feed}"))  # its id (its payload has no "2")
    assert ids(browser.api("GET", "/api/webhook-events?q=17841400000000001")) == [comment]
    assert ids(browser.api("GET", "/api/webhook-events?account=17841400000000001")) == [comment]
    assert ids(browser.api("GET", "/api/webhook-events?q=100%25")) == []  # a % is text, not a wildcard
    listed = browser.api("GET", "/api/webhook-events?q=lisbon").json()["events"][0]
    assert listed["summary_who"] == "lisbon.fan" and listed["summary_text"] == "Do you ship to Lisbon?"
    assert browser.api("GET", "/api/webhook-events?q=" + "x" * 201).status_code == 400


def test_choices_list_what_exists(browser, owner, sql, stranger):
    insert_event(sql, owner, object="instagram", field="comments")
    insert_event(sql, owner, object="instagram", field="mentions")
    insert_event(sql, stranger[1], object="page", field="feed")
    found = browser.api("GET", "/api/webhook-events/choices").json()
    assert found["objects"] == [{"value": "instagram", "count": 2}]
    assert {f["value"] for f in found["fields"]} == {"comments", "mentions"}


def test_replay_runs_a_processed_event_again_and_retry_refuses_it(browser, owner, sql, stranger):
    done = insert_event(sql, owner, status="processed")
    answer = browser.api("POST", f"/api/webhook-events/{done}/replay")
    assert answer.status_code == 200 and answer.json()["status"] == "pending"
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (done,))[0][0] == "pending"
    busy = insert_event(sql, owner, status="processing")
    assert browser.api("POST", f"/api/webhook-events/{busy}/replay").status_code == 409
    theirs = insert_event(sql, stranger[1], status="processed")
    assert browser.api("POST", f"/api/webhook-events/{theirs}/replay").status_code == 404
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (theirs,))[0][0] == "processed"


def test_bulk_actions_touch_only_the_users_events(browser, owner, sql, stranger):
    failed = insert_event(sql, owner, status="failed")
    processed = insert_event(sql, owner, status="processed")
    theirs = insert_event(sql, stranger[1], status="failed")
    answer = browser.api("POST", "/api/webhook-events/bulk", json={"action": "retry", "ids": [failed, processed, theirs]})
    assert answer.status_code == 200
    assert answer.json() == {"action": "retry", "done": [failed], "skipped": sorted([processed, theirs])}
    answer = browser.api("POST", "/api/webhook-events/bulk", json={"action": "replay", "ids": [processed]})
    assert answer.json()["done"] == [processed]
    answer = browser.api("POST", "/api/webhook-events/bulk", json={"action": "delete", "ids": [failed, theirs]})
    assert answer.json()["done"] == [failed]
    assert dict(sql("SELECT id, status FROM webhook_events")) == {processed: "pending", theirs: "failed"}
    for bad in ({"action": "explode", "ids": [1]}, {"action": "retry", "ids": "1"}, {"action": "retry", "ids": []},
                {"action": "retry", "ids": [True]}, {"action": "retry", "ids": [2**70]}, [1, 2]):
        assert browser.api("POST", "/api/webhook-events/bulk", json=bad).status_code == 400, bad


def test_detail_tells_the_delivery_and_its_duplicates(browser, owner, sql):
    event = insert_event(sql, owner, status="processed")
    sql("UPDATE webhook_deliveries SET duplicate_count = 3 WHERE id = (SELECT delivery_id FROM webhook_events "
        "WHERE id = %s)", (event,))
    body = browser.api("GET", f"/api/webhook-events/{event}").json()
    assert body["duplicate_count"] == 3 and body["delivery_entries"] == 1 and len(body["delivery_sha256"]) == 64


def test_summary_reads_metas_shapes_and_tolerates_missing_fields(browser, owner, sql):
    # Meta's WhatsApp "messages" webhook reference: a text message, and a status of one the business sent.
    wa_text = insert_event(sql, owner, object="whatsapp_business_account", field="messages", payload={
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                          "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"}}]}}]})
    wa_status = insert_event(sql, owner, object="whatsapp_business_account", field="messages", payload={
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3", "status": "delivered",
                          "timestamp": "1750263773", "recipient_id": "16505551234"}]}}]})
    # Instagram messaging (entry[].messaging[]), and a Page feed post (from.name, message).
    ig_dm = insert_event(sql, owner, object="instagram", field="messaging", payload={
        "id": "17841400000000000", "time": 1700000000, "messaging": [
            {"sender": {"id": "9000001"}, "recipient": {"id": "17841400000000000"}, "timestamp": 1700000000123,
             "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAw", "text": "Is this in stock?"}}]})
    feed = insert_event(sql, owner, object="page", field="feed", payload={
        "id": "1234567890", "time": 1700000000, "changes": [{"field": "feed", "value": {
            "from": {"id": "24242424", "name": "Ana Costa"}, "item": "post", "verb": "add",
            "post_id": "1234567890_111", "message": "Opening hours on Sunday?"}}]})
    bare = insert_event(sql, owner, object="page", field="feed", payload={"id": "1234567890", "changes": []})
    summary = {e["id"]: (e["summary_who"], e["summary_text"])
               for e in browser.api("GET", "/api/webhook-events").json()["events"]}
    assert summary[wa_text] == ("Sheena Nelson", "Does it come in another color?")
    assert summary[wa_status] == (None, "delivered")
    assert summary[ig_dm] == ("9000001", "Is this in stock?")
    assert summary[feed] == ("Ana Costa", "Opening hours on Sunday?")
    assert summary[bare] == (None, None)


def test_replay_and_bulk_need_the_csrf_token(browser, owner, sql):
    event = insert_event(sql, owner, status="processed")
    assert browser.api("POST", f"/api/webhook-events/{event}/replay", csrf=False).status_code == 400
    assert browser.api("POST", "/api/webhook-events/bulk", csrf=False,
                       json={"action": "delete", "ids": [event]}).status_code == 400
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (event,)) == [("processed",)]


def test_activity_over_seven_days_counts_by_hour(browser, owner, sql):
    insert_event(sql, owner, status="processed", received_at="now")
    insert_event(sql, owner, status="failed")
    sql("UPDATE webhook_events SET received_at = now() - interval '3 days' WHERE status = 'failed'")
    week = browser.api("GET", "/api/webhook-events/activity?range=7d").json()
    assert week["bucket_seconds"] == 3600
    assert sum(b[1] for b in week["buckets"]) == 2 and sum(b[3] for b in week["buckets"]) == 1
    assert sum(b[2] for b in week["buckets"]) == 1
    assert browser.api("GET", "/api/webhook-events/activity?range=1y").status_code == 400
