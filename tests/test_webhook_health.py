"""`/api/webhook-health`: verification, last delivery received and processed, last hour's failures, per user."""
from __future__ import annotations

import json


def _user_id(sql, email):
    return sql("SELECT id FROM users WHERE email = %s", (email,))[0][0]


def _event(sql, user_id, status, *, minutes_ago=0, error=None, index=[0]):
    index[0] += 1
    delivery = sql("INSERT INTO webhook_deliveries (body_sha256, object, entry_count) VALUES (%s, 'page', 1) "
                   "RETURNING id", (index[0].to_bytes(32, "big"),))[0][0]
    errors = json.dumps([{"attempt": 1, "at": "now", "message": error}] if error else [])
    sql("INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, payload, status, errors, "
        "received_at, processed_at) VALUES (%s, 0, %s, 'page', 'feed', '{}', %s, %s, "
        "now() - make_interval(mins => %s), "
        "CASE WHEN %s = 'processed' THEN now() - make_interval(mins => %s) + interval '1 second' END)",
        (delivery, user_id, status, errors, minutes_ago, status, minutes_ago))


def test_webhook_health_reports_this_users_deliveries_only(auth, browser, sql):
    auth.register("other@example.com")
    auth.logout()
    auth.register()
    me, other = _user_id(sql, "owner@example.com"), _user_id(sql, "other@example.com")

    empty = browser.api("GET", "/api/webhook-health").json()
    assert empty["verified"] is False and empty["last_received_at"] is None
    assert empty["last_hour"] == {"received": 0, "failed": 0, "failure_rate": 0.0}

    sql("INSERT INTO webhook_health (user_id, verified_at) VALUES (NULL, now())")
    _event(sql, me, "processed", minutes_ago=5)
    _event(sql, me, "failed", minutes_ago=2, error="handler exploded")
    _event(sql, me, "processed", minutes_ago=90)     # older than the last hour
    for _ in range(3):
        _event(sql, other, "dead_letter", error="someone else's failure")

    health = browser.api("GET", "/api/webhook-health").json()
    assert health["verified"] is True and health["verified_at"] is not None
    assert health["last_hour"] == {"received": 2, "failed": 1, "failure_rate": 0.5}
    assert health["last_error"] == "handler exploded"
    # The newest delivery (2 minutes ago) failed; the newest processed one came 5 minutes ago.
    assert health["last_received_at"] > health["last_processed_at"]
    assert health["templates"] == {"approved": 0, "total": 0, "last_synced_at": None, "last_error": None,
                                   "last_error_at": None, "running": False}

    auth.logout()
    auth.login("other@example.com")
    theirs = browser.api("GET", "/api/webhook-health").json()
    assert theirs["last_hour"] == {"received": 3, "failed": 3, "failure_rate": 1.0}
    assert theirs["last_error"] == "someone else's failure"
