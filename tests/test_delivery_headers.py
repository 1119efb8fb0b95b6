"""The request headers a delivery came with, kept by the intake and shown with each of its events (issue 17/20):
a signed delivery sent over real HTTP, read back through the event detail API."""
from __future__ import annotations

import hashlib
import hmac
import json

import requests

from tests.support.live import AuthActions, Browser
from tests.support.rows import insert_event, user_id
from tests.support.webhooks import SECRET, ig_messages, sign


def _send(server, payload, **extra_headers) -> tuple[bytes, requests.Response]:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua",
               "X-Hub-Signature-256": sign(body),
               "X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest(), **extra_headers}
    return body, requests.post(server.url + "/webhook", data=body, headers=headers, timeout=15)


def test_a_signed_delivery_s_headers_are_shown_with_its_event_and_nothing_else_is_kept(auth, browser, server, sql):
    auth.register("owner@example.com")
    auth.login("owner@example.com")
    owner = user_id(sql, "owner@example.com")
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES ('ig-1', %s, 'instagram')", (owner,))

    body, answer = _send(server, ig_messages("ig-1", ["m.headers"]), **{
        "X-Forwarded-For": "173.252.127.1", "X-Meta-Trace": "abc123",
        "Cookie": "session=stolen", "Authorization": "Bearer not-for-storing", "X-Hub-Signature-256": None})
    assert answer.status_code == 401  # the session's header removed: refused, nothing kept
    body, answer = _send(server, ig_messages("ig-1", ["m.headers"]), **{
        "X-Forwarded-For": "173.252.127.1", "X-Meta-Trace": "abc123",
        "Cookie": "session=stolen", "Authorization": "Bearer not-for-storing"})
    assert answer.status_code == 200, answer.text
    event_id = sql("SELECT id FROM webhook_events WHERE user_id = %s", (owner,))[0][0]

    event = browser.api("GET", f"/api/webhook-events/{event_id}").json()
    assert event["delivery_headers"] == {
        "Content-Type": "application/json", "Content-Length": str(len(body)), "User-Agent": "facebookexternalua",
        "X-Hub-Signature-256": sign(body),
        "X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest(),
        "X-Forwarded-For": "173.252.127.1", "X-Meta-Trace": "abc123"}
    assert event["delivery_remote_addr"] == "127.0.0.1"
    assert "stolen" not in json.dumps(event) and "not-for-storing" not in json.dumps(event)
    assert sql("SELECT count(*) FROM webhook_deliveries") == [(1,)]  # the refused one stored nothing

    # Another user sees neither the event nor its headers.
    other = Browser(server.url)
    AuthActions(other).register("stranger@example.com")
    AuthActions(other).login("stranger@example.com")
    assert other.api("GET", f"/api/webhook-events/{event_id}").status_code == 404


def test_a_huge_header_is_cut_and_an_event_stored_before_headers_were_kept_has_none(auth, browser, server, sql):
    auth.register("owner@example.com")
    auth.login("owner@example.com")
    owner = user_id(sql, "owner@example.com")
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES ('ig-1', %s, 'instagram')", (owner,))
    _, answer = _send(server, ig_messages("ig-1", ["m.long"]), **{"User-Agent": "x" * 5000})
    assert answer.status_code == 200
    event_id = sql("SELECT id FROM webhook_events WHERE user_id = %s", (owner,))[0][0]
    event = browser.api("GET", f"/api/webhook-events/{event_id}").json()
    assert event["delivery_headers"]["User-Agent"] == "x" * 512

    older = insert_event(sql, owner)  # a delivery stored as before migration 0160: no headers column filled
    event = browser.api("GET", f"/api/webhook-events/{older}").json()
    assert event["delivery_headers"] is None and event["delivery_remote_addr"] is None


def test_a_header_value_postgresql_cannot_store_does_not_cost_the_delivery(db, sql):
    from webhook_app.webhooks import intake

    raw = json.dumps(ig_messages("ig-1", ["m.nul"])).encode()
    request = intake.request_json({"HTTP_USER_AGENT": "facebook\x00externalua", "HTTP_X_FB_DEBUG": "x" * 600,
                                   "REMOTE_ADDR": "10.0.0.1"})
    assert intake.Intake(db).store(raw, intake.parse_envelope(raw), request).events == 1
    assert sql("SELECT headers, remote_addr FROM webhook_deliveries") == [
        ({"User-Agent": "facebookexternalua", "X-Fb-Debug": "x" * 512}, "10.0.0.1")]
