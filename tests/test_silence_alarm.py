"""The silence alarm and "check subscription" (issue 21): an account whose webhooks stop is noticed from its own
history, and the check asks Meta (GET /{id}/subscribed_apps) and subscribes it again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.support.live import AuthActions, Browser, LiveServer, consent
from tests.support.rows import insert_event
from webhook_app import create_app
from webhook_app.accounts.store import PAGE_WEBHOOK_FIELDS

pytestmark = pytest.mark.sandbox


def _watch_a_page(auth, browser, sandbox, sql):
    """Connect Facebook, pick the Page with an Instagram account; the subscription was made 10 days ago."""
    auth.register()
    assert consent(browser, "/connect/meta").status_code == 302
    page = next(p for p in browser.api("GET", "/api/pages").json()["pages"] if p["instagram"])
    assert browser.api("POST", f"/api/pages/{page['id']}/select").status_code == 200
    sql("UPDATE webhook_subscriptions SET subscribed_at = now() - interval '10 days'")
    return page


def _history(sql, entry_id: str, *, every_hours: float, until_hours_ago: float, days: int = 10,
             object: str = "page") -> None:
    """Webhooks for `entry_id` every `every_hours`, the last one `until_hours_ago`, going back `days`."""
    owner = sql("SELECT id FROM users")[0][0]
    now = datetime.now(timezone.utc)
    at = now - timedelta(hours=until_hours_ago)
    while at >= now - timedelta(days=days):
        insert_event(sql, owner, status="processed", object=object, field="feed", received_at=at.isoformat(),
                     payload={"id": entry_id, "time": int(at.timestamp()), "changes": [{"field": "feed"}]})
        at -= timedelta(hours=every_hours)


def _silence(browser) -> dict:
    body = browser.api("GET", "/api/accounts/health").json()
    assert len(body["silence"]) == 1
    return body["silence"][0]


def test_an_account_whose_subscription_was_removed_at_meta_alarms_and_the_check_resubscribes_it(
        auth, browser, sandbox, sql):
    page = _watch_a_page(auth, browser, sandbox, sql)
    # Daily traffic (every 3 hours for 10 days, on the Page and its Instagram account) until 7 hours ago ...
    _history(sql, page["page_id"], every_hours=3, until_hours_ago=7)
    _history(sql, page["instagram"]["id"], every_hours=5, until_hours_ago=9, object="instagram")
    # ... when the subscription was removed at Meta (the sandbox's control does what Meta can).
    removed = requests.post(f"{sandbox.url}/_sandbox/api/subscriptions/remove", json={"object_id": page["page_id"]},
                            timeout=10)
    assert removed.json() == {"removed": 1}
    assert sandbox.state.pages[page["page_id"]].subscribed_fields is None

    alarm = _silence(browser)
    assert alarm["silent"] is True and alarm["kind"] == "page" and alarm["external_id"] == page["page_id"]
    assert alarm["expected_within_hours"] == 6.0 and 6.9 <= alarm["quiet_hours"] <= 7.1
    assert alarm["active_days_14"] >= 10
    assert "No webhooks from Sandbox Coffee House for 7 hours" in alarm["message"]
    listed = browser.api("GET", "/api/accounts").json()
    assert [s["silent"] for s in listed["silence"]] == [True]
    dashboard = browser.get("/").text
    assert 'data-warning="silence"' in dashboard
    assert f'data-check-subscription="{alarm["subscription_id"]}"' in dashboard

    checks = sandbox.state.calls_to("/subscribed_apps")
    checked = browser.api("POST", alarm["check"])

    assert checked.status_code == 200 and checked.json()["result"] == "resubscribed"
    assert sandbox.state.calls_to("/subscribed_apps") == checks + 2          # GET, then POST
    assert sandbox.state.pages[page["page_id"]].subscribed_fields == list(PAGE_WEBHOOK_FIELDS)
    after = _silence(browser)
    assert after["silent"] is False and after["check_result"] == "resubscribed" and after["last_checked_at"]
    assert 'data-warning="silence"' not in browser.get("/").text

    # Asked again: Meta lists our app with every field; nothing is changed, and the other causes are named.
    again = browser.api("POST", alarm["check"]).json()
    assert again["result"] == "subscribed" and "META_APP_SECRET" in again["hint"]
    assert sandbox.state.calls_to("/subscribed_apps") == checks + 3


def test_the_expectation_is_learned_from_each_account_s_own_history(auth, browser, sandbox, sql):
    page = _watch_a_page(auth, browser, sandbox, sql)
    # Nothing received yet: nothing learned, no alarm.
    assert _silence(browser)["silent"] is False and _silence(browser)["expected_within_hours"] is None

    # A webhook every second day: 7 quiet hours are nothing unusual for it.
    _history(sql, page["page_id"], every_hours=48, until_hours_ago=7)
    quiet = _silence(browser)
    assert quiet["silent"] is False and quiet["expected_within_hours"] > 48


def test_silence_alarm_hours_is_a_setting(settings, sandbox, sql):
    app = create_app(settings.with_overrides(silence_alarm_hours=8.0))
    server = LiveServer(app).start()
    sandbox.state.webhook_url = server.url + "/webhook"
    try:
        browser = Browser(server.url)
        page = _watch_a_page(AuthActions(browser), browser, sandbox, sql)
        _history(sql, page["page_id"], every_hours=3, until_hours_ago=7)
        alarm = _silence(browser)
        assert alarm["expected_within_hours"] == 8.0 and alarm["silent"] is False
    finally:
        server.stop()
        app.extensions["database"].close()


def test_whatsapp_and_instagram_login_subscriptions_are_checked_where_they_live(auth, browser, sandbox, sql):
    auth.register()
    assert consent(browser, "/connect/whatsapp").status_code == 302
    studio = sandbox.state.add_instagram_account("sandbox.studio")
    start = browser.get("/connect/instagram")
    back = browser.http.post(start.headers["Location"], data={"decision": "approve", "subject": studio.id},
                             allow_redirects=False)
    assert browser.get(back.headers["Location"][len(browser.base_url):]).status_code == 302
    waba = next(iter(sandbox.state.wabas.values()))
    waba.subscribed = False
    sandbox.state.set_instagram_subscription(studio.id, None)

    found = {s["kind"]: s for s in browser.api("GET", "/api/accounts/health").json()["silence"]}
    assert set(found) == {"whatsapp_business", "instagram"}
    for subscription in found.values():
        assert browser.api("POST", subscription["check"]).json()["result"] == "resubscribed"
    assert waba.subscribed is True
    assert sandbox.state.instagram[studio.id].subscribed_fields


def test_someone_else_s_subscription_is_not_found_and_the_check_needs_the_csrf_token(auth, browser, sandbox, sql,
                                                                                    server):
    _watch_a_page(auth, browser, sandbox, sql)
    mine = _silence(browser)
    assert browser.api("POST", mine["check"], csrf=False).status_code == 400

    other = Browser(server.url)
    AuthActions(other).register("other@example.com")
    assert other.api("POST", mine["check"]).status_code == 404
    assert other.api("GET", "/api/accounts/health").json()["silence"] == []
    assert other.api("POST", "/api/accounts/subscriptions/999999/check").status_code == 404
