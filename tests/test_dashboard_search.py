"""Events search and the long-range charts after migration 0150: one filter for the list and "retry every match"
(inlined by the planner), and 7 d / 30 d activity from the hourly rollup."""
from __future__ import annotations

import json

import psycopg2
import pytest

from tests.support.rows import insert_event, user_id
from webhook_app.db.queries import query


@pytest.fixture
def owner(auth, sql):
    auth.register("owner@example.com")
    return user_id(sql, "owner@example.com")


def listed(browser, **filters) -> set[int]:
    answer = browser.api("GET", "/api/webhook-events", params={"limit": 200, **filters})
    assert answer.status_code == 200, answer.text
    return {e["id"] for e in answer.json()["events"]}


def comment(text: str, account: str = "17841400000000001") -> dict:
    """An Instagram comments change as Meta sends it (entry id, time, changes[].value with from and text)."""
    return {"id": account, "time": 1733000000, "changes": [{"field": "comments", "value": {
        "from": {"id": "2323232323", "username": "ana.costa"}, "media": {"id": "18000000000000001"},
        "id": "18100000000000001", "text": text}}]}


def test_search_finds_ids_and_payload_text_case_insensitively_with_percent_and_underscore_literal(browser, owner,
                                                                                                   sql):
    """As before 0150 (the filter moved into one function, its meaning did not)."""
    sale = insert_event(sql, owner, status="failed", payload=comment("50% OFF today?"))
    five_hundred = insert_event(sql, owner, status="failed", payload=comment("500 OFF today?"))
    snake = insert_event(sql, owner, status="processed", payload=comment("code blue_sky please"))
    other = insert_event(sql, owner, status="dead_letter", payload=comment("Do you ship to Lyon?", "17841400000000002"))
    insert_event(sql, None, payload=comment("50% OFF today?"))   # nobody's: never listed

    assert listed(browser, q="50% off") == {sale}            # % is a character, not "anything"
    assert listed(browser, q="0%") == {sale}
    assert listed(browser, q="blue_sky") == {snake}
    assert listed(browser, q="blue_") == {snake}
    assert listed(browser, q="50_ off") == set()             # _ is not "any one character"
    assert listed(browser, q="lyon") == {other}
    assert listed(browser, q="ANA.COSTA") == {sale, five_hundred, snake, other}
    assert other in listed(browser, q=str(other))            # the event's own id (and any payload with that text)
    assert listed(browser, q="17841400000000002") == {other}  # the entry's Meta id
    assert listed(browser, q="\\") == set()
    assert listed(browser, q="off", status="failed") == {sale, five_hundred}


@pytest.mark.parametrize("filters", [
    {}, {"q": "off"}, {"q": "lyon"}, {"object": "INSTA"}, {"field": "mess"}, {"account": "17841400000000002"},
    {"status": "dead_letter"}, {"q": "today", "since": "2000-01-01T00:00:00Z"},
])
def test_retry_every_match_takes_exactly_the_failed_events_the_list_shows(browser, owner, sql, filters):
    """The list and "retry every match" share one filter (webhook_event_matches): what one shows, the other takes."""
    insert_event(sql, owner, status="failed", payload=comment("50% OFF today?"))
    insert_event(sql, owner, status="dead_letter", payload=comment("Do you ship to Lyon?", "17841400000000002"))
    insert_event(sql, owner, status="failed", object="whatsapp_business_account", field="messages",
                 payload={"id": "102000000000001", "changes": [{"field": "messages", "value": {"messages": [
                     {"from": "33612345678", "type": "text", "text": {"body": "Lyon today?"}}]}}]})
    insert_event(sql, owner, status="processed", payload=comment("Lyon, 50% OFF"))
    retryable = {e for e in listed(browser, **filters)
                 if sql("SELECT status FROM webhook_events WHERE id = %s", (e,))[0][0] in ("failed", "dead_letter")}
    answer = browser.api("POST", "/api/webhook-events/retry", json=filters)
    assert answer.status_code == 200, answer.text
    assert answer.json()["retried"] == len(retryable)
    assert {row[0] for row in sql("SELECT id FROM webhook_events WHERE status = 'pending'")} == retryable


def _plan(database_url: str, name: str, params: dict) -> str:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN (FORMAT JSON) " + query(name), params)
            return json.dumps(cur.fetchone()[0])
    finally:
        conn.close()


def test_the_filter_is_inlined_so_the_planner_sees_plain_conditions(database_url, owner, sql):
    """Inlined, the filters left empty fold away and the rest are conditions on the columns, so the user's index
    still serves the list's keyset order (a function call would hide them from the planner)."""
    params = {"user_id": owner, "status": None, "object": None, "field": None, "account": None, "q": "blue sky",
              "since": None, "until": None, "before_at": None, "before_id": None, "limit": 51}
    for name in ("list_user_webhook_events", "retry_user_webhook_events_matching"):
        plan = _plan(database_url, name, params)
        assert "webhook_event_matches" not in plan, plan   # inlined: the planner sees the columns
        assert "strpos(lower((payload)::text), 'blue sky'::text)" in plan, plan
        assert "starts_with" not in plan and "IS NULL" not in plan, plan
    plan = _plan(database_url, "list_user_webhook_events", {**params, "q": None, "object": "Insta"})
    assert "starts_with(lower(object), 'insta'::text)" in plan and "strpos" not in plan, plan
    assert "user_id_received_at_id_idx" in plan, plan


def test_activity_older_than_two_days_comes_from_the_hourly_rollup_and_outlives_the_events(browser, owner, sql):
    recent = insert_event(sql, owner, status="processed")
    insert_event(sql, owner, status="failed", received_at="now")
    # Five days ago (as a bulk load or a backlog leaves them): the triggers recorded the minutes of that day.
    for _ in range(3):
        insert_event(sql, owner, status="pending", received_at="now")
    sql("UPDATE webhook_events SET received_at = now() - interval '5 days' WHERE status = 'pending'")
    sql("INSERT INTO webhook_activity_minutes (user_id, minute, received) "
        "VALUES (%s, date_trunc('minute', now() - interval '5 days'), 3), (%s, date_trunc('minute', now()), -3)",
        (owner, owner))
    month = browser.api("GET", "/api/webhook-events/activity?range=30d").json()
    assert month["bucket_seconds"] == 86400
    assert sum(b[1] for b in month["buckets"]) == 5
    assert sum(b[2] for b in month["buckets"]) == 1 and sum(b[3] for b in month["buckets"]) == 1
    # The old minutes moved into hours (not copied): each moment is counted once.
    assert sql("SELECT count(*) FROM webhook_activity_minutes WHERE minute < now() - interval '48 hours'") == [(0,)]
    assert sql("SELECT sum(received) FROM webhook_activity_hours WHERE user_id = %s", (owner,)) == [(3,)]
    week = browser.api("GET", "/api/webhook-events/activity?range=7d").json()
    assert week["bucket_seconds"] == 3600 and sum(b[1] for b in week["buckets"]) == 5
    five_days_ago = [b for b in week["buckets"] if b[1] == 3]
    assert len(five_days_ago) == 1
    # Pruning the old events leaves the history of what arrived.
    sql("SELECT webhook_events_unlink(array_agg(id)) FROM webhook_events WHERE status = 'pending'")
    sql("DELETE FROM webhook_events WHERE status = 'pending'")
    assert sum(b[1] for b in browser.api("GET", "/api/webhook-events/activity?range=30d").json()["buckets"]) == 5
    assert recent
