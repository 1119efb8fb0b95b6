"""The reply routes over HTTP (SPEC 16): 202 with the queued message shown in its conversation at once, every
refusal with its reason and nothing queued, Idempotency-Key, CSRF, and another user's ids answering 404."""
from __future__ import annotations

import pytest

from tests.support.live import Browser
from tests.support.replies import connect_everything, conversation_of, customer_writes

pytestmark = pytest.mark.sandbox


@pytest.fixture
def whatsapp(auth, browser, sandbox, settings):
    connect_everything(auth, browser, sandbox)
    customer_writes(sandbox, settings, "whatsapp_message", "Is my order ready?")
    return conversation_of(browser, "whatsapp")


def _queued(sql) -> int:
    return sql("SELECT count(*) FROM outbound_messages")[0][0]


def test_a_text_reply_is_queued_and_shows_in_the_conversation_at_once(browser, sql, whatsapp):
    assert whatsapp["reply"] == {"can_reply": True, "window_open": True,
                                 "window_closes_at": whatsapp["reply"]["window_closes_at"], "needs_template": False,
                                 "reason": None}
    sent = browser.api("POST", f"/api/conversations/{whatsapp['id']}/messages", json={"text": "Yes, come by at 5."})
    assert sent.status_code == 202, sent.text
    message = sent.json()["message"]
    assert (message["status"], message["kind"], message["text"], message["channel"]) == (
        "queued", "text", "Yes, come by at 5.", "whatsapp")
    assert message["external_id"] is None and message["attempts"] == 0 and message["error"] is None

    shown = conversation_of(browser, "whatsapp")
    last = shown["messages"][-1]
    assert (last["direction"], last["text"], last["status"]) == ("outbound", "Yes, come by at 5.", "queued")
    assert last["outbound"]["id"] == message["id"]
    # The customer's message is ours to read; it carries no outbound (it is not ours).
    assert "outbound" not in shown["messages"][0]
    listed = browser.api("GET", "/api/conversations").json()["conversations"]
    assert next(c for c in listed if c["id"] == whatsapp["id"])["last_message"]["text"] == "Yes, come by at 5."


def test_refusals_say_why_and_queue_nothing(browser, sql, whatsapp):
    url = f"/api/conversations/{whatsapp['id']}/messages"
    cases = [
        ({"text": "   "}, 400, "empty"),
        ({}, 400, "empty"),
        ({"text": "x" * 4097}, 400, "too_long"),
        ({"attachment": {"type": "sticker", "url": "https://example.com/a.webp"}}, 400, "attachment_type"),
        ({"attachment": {"type": "image", "url": "http://example.com/a.jpg"}}, 400, "attachment_url"),
        ({"template": {"name": "no_such_template", "language": "en_US", "variables": []}}, 409, "template_not_found"),
        ({"template": {"name": "sandbox_template_1", "language": "en_US", "variables": ["Ada"]}}, 400,
         "template_variables"),
        ({"template": {"name": "sandbox_template_1", "language": "en_US", "variables": ["Ada", " "]}}, 400,
         "template_variables"),
    ]
    for body, status, reason in cases:
        answer = browser.api("POST", url, json=body)
        assert (answer.status_code, answer.json().get("reason")) == (status, reason), (body, answer.text)
        assert answer.json()["error"]
    assert browser.api("POST", url, json={"text": "x" * 4096}).status_code == 202   # exactly the limit
    assert _queued(sql) == 1


def test_template_not_approved_and_the_templates_listed(browser, sql, sandbox, whatsapp):
    listed = browser.api("GET", f"/api/conversations/{whatsapp['id']}/templates")
    assert listed.status_code == 200
    first = listed.json()["templates"][0]
    assert first == {"name": "sandbox_template_1", "language": "en_US", "category": first["category"],
                     "body": "Hello {{1}}, your order {{2}} is ready.", "variables": 2, "header": "Update 1",
                     "footer": "Sandbox Coffee"}
    sql("UPDATE message_templates SET status = 'PAUSED' WHERE name = 'sandbox_template_1'")
    names = [t["name"] for t in browser.api("GET", f"/api/conversations/{whatsapp['id']}/templates").json()[
        "templates"]]
    assert "sandbox_template_1" not in names
    refused = browser.api("POST", f"/api/conversations/{whatsapp['id']}/messages", json={
        "template": {"name": "sandbox_template_1", "language": "en_US", "variables": ["Ada", "#1"]}})
    assert (refused.status_code, refused.json()["reason"]) == (409, "template_not_approved")
    assert "PAUSED" in refused.json()["error"]
    assert _queued(sql) == 0


def test_window_closed_needs_a_template_on_whatsapp(browser, sql, whatsapp):
    sql("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'")
    state = conversation_of(browser, "whatsapp")["reply"]
    assert (state["can_reply"], state["window_open"], state["needs_template"]) == (True, False, True)
    assert "template" in state["reason"]
    url = f"/api/conversations/{whatsapp['id']}/messages"
    refused = browser.api("POST", url, json={"text": "Still there?"})
    assert (refused.status_code, refused.json()["reason"]) == (409, "window_closed")
    assert "template" in refused.json()["error"]
    template = browser.api("POST", url, json={"template": {"name": "sandbox_template_1", "language": "en_US",
                                                           "variables": ["Ada", "#1042"]}})
    assert template.status_code == 202, template.text
    assert template.json()["message"]["template"] == {"name": "sandbox_template_1", "language": "en_US",
                                                      "variables": ["Ada", "#1042"]}
    assert _queued(sql) == 1


def test_an_account_needing_reauthorization_is_refused(browser, sql, whatsapp):
    sql("UPDATE credentials SET status = 'needs_reauth', status_reason = 'The access token expired.' "
        "WHERE kind = 'whatsapp'")
    refused = browser.api("POST", f"/api/conversations/{whatsapp['id']}/messages", json={"text": "Hi"})
    assert (refused.status_code, refused.json()["reason"]) == (409, "reauth_needed")
    assert "Reconnect" in refused.json()["error"]
    state = conversation_of(browser, "whatsapp")["reply"]
    assert state["can_reply"] is False and "Reconnect" in state["reason"]
    assert _queued(sql) == 0


def test_idempotency_key_same_body_one_message_other_body_refused(browser, sql, whatsapp):
    url = f"/api/conversations/{whatsapp['id']}/messages"
    key = {"Idempotency-Key": "reply-7f3a"}
    first = browser.api("POST", url, json={"text": "On my way"}, headers=dict(key))
    again = browser.api("POST", url, json={"text": "On my way"}, headers=dict(key))
    assert first.status_code == again.status_code == 202
    assert first.json()["message"]["id"] == again.json()["message"]["id"]
    assert _queued(sql) == 1
    assert len([m for m in conversation_of(browser, "whatsapp")["messages"] if m["direction"] == "outbound"]) == 1
    other = browser.api("POST", url, json={"text": "Something else"}, headers=dict(key))
    assert (other.status_code, other.json()["reason"]) == (422, "idempotency_conflict")
    bad = browser.api("POST", url, json={"text": "x"}, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400
    assert _queued(sql) == 1


def test_csrf_login_and_another_users_ids(server, browser, sql, whatsapp):
    url = f"/api/conversations/{whatsapp['id']}/messages"
    assert browser.api("POST", url, json={"text": "Hi"}, csrf=False).status_code == 400
    assert Browser(server.url).api("POST", url, json={"text": "Hi"}, csrf=False).status_code in (400, 401)
    queued = browser.api("POST", url, json={"text": "Hi"}).json()["message"]

    from tests.support.live import AuthActions
    stranger = Browser(server.url)
    assert AuthActions(stranger).register("other@example.com").status_code == 302
    assert stranger.api("POST", url, json={"text": "Hi"}).status_code == 404
    assert stranger.api("GET", f"/api/conversations/{whatsapp['id']}/templates").status_code == 404
    assert stranger.api("POST", f"/api/outbound/{queued['id']}/resolve", json={"outcome": "sent"}).status_code == 404
    inbound = whatsapp["messages"][0]["id"]
    assert stranger.api("POST", f"/api/comments/{inbound}/replies", json={"text": "Hi"}).status_code == 404
    assert _queued(sql) == 1


def test_resolve_only_an_unknown_message(browser, sql, whatsapp):
    queued = browser.api("POST", f"/api/conversations/{whatsapp['id']}/messages", json={"text": "Hi"}).json()["message"]
    url = f"/api/outbound/{queued['id']}/resolve"
    refused = browser.api("POST", url, json={"outcome": "not_sent"})
    assert (refused.status_code, refused.json()["reason"]) == (409, "not_unknown")
    assert browser.api("POST", url, json={"outcome": "maybe"}).status_code == 400
    sql("UPDATE outbound_messages SET status = 'unknown', attempts = 1")
    resolved = browser.api("POST", url, json={"outcome": "sent"})
    assert resolved.status_code == 200 and resolved.json()["message"]["status"] == "sent"
    assert conversation_of(browser, "whatsapp")["messages"][-1]["status"] == "sent"


def test_comment_replies_public_and_private(browser, sql, sandbox, settings, auth):
    connect_everything(auth, browser, sandbox)
    customer_writes(sandbox, settings, "instagram_comment", "Is this in stock?")
    thread = conversation_of(browser, "instagram", kind="comments")
    assert thread["reply"]["can_reply"] is True
    comment = thread["messages"][0]
    url = f"/api/comments/{comment['id']}/replies"
    public = browser.api("POST", url, json={"text": "Yes! DM us."})
    assert public.status_code == 202, public.text
    assert (public.json()["message"]["kind"], public.json()["message"]["status"]) == ("comment_reply", "queued")
    private = browser.api("POST", url, json={"text": "Here are the sizes.", "private": True})
    assert private.status_code == 202 and private.json()["message"]["kind"] == "private_reply"
    assert browser.api("POST", url, json={"text": ""}).json()["reason"] == "empty"
    assert browser.api("POST", url, json={"text": "x", "private": "yes"}).status_code == 400
    sql("UPDATE messages SET occurred_at = now() - interval '8 days' WHERE id = %s", (comment["id"],))
    late = browser.api("POST", url, json={"text": "Sorry for the wait", "private": True})
    assert (late.status_code, late.json()["reason"]) == (409, "window_closed")
    # Our own replies are not comments to answer, and a chat is not answered as a comment.
    mine = public.json()["message"]
    own_row = sql("SELECT message_id FROM outbound_messages WHERE id = %s", (mine["id"],))[0][0]
    assert browser.api("POST", f"/api/comments/{own_row}/replies", json={"text": "x"}).json()["reason"] == \
        "not_a_comment"
    assert _queued(sql) == 2
