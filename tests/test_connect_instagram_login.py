"""Instagram API with Instagram Login (issue 21), end to end through the sandbox: consent, the code, the short-lived
token, ig_exchange_token, the account, its webhook subscription, its webhooks, data sync, ig_refresh_token,
re-authorization and disconnect."""
from __future__ import annotations

import pytest

from tests.support.rows import stored_token
from tests.support.webhooks import deliver
from webhook_app.accounts import graph
from webhook_app.accounts.data_sync import DataSync
from webhook_app.accounts.instagram_login import WEBHOOK_FIELDS
from webhook_app.tokens import refresh_run
from webhook_app.tokens.vault import from_settings as vault_from_settings

pytestmark = pytest.mark.sandbox


def _log_in_with_instagram(browser, subject: str, decision: str = "approve"):
    """Click Connect Instagram, pick the account on Instagram's consent page, come back to the app."""
    start = browser.get("/connect/instagram")
    assert start.status_code == 302
    dialog = start.headers["Location"]
    assert "/instagram-web/oauth/authorize?" in dialog and "instagram_business_basic" in dialog
    page = browser.http.get(dialog, timeout=15)
    assert page.status_code == 200 and "Log in with Instagram" in page.text
    answer = browser.http.post(dialog, data={"decision": decision, "subject": subject}, allow_redirects=False,
                               timeout=15)
    assert answer.status_code == 302
    return browser.get(answer.headers["Location"][len(browser.base_url):])


@pytest.fixture
def studio(sandbox):
    """An Instagram professional account with no Facebook Page."""
    return sandbox.state.add_instagram_account("sandbox.studio", "Sandbox Studio")


def test_instagram_login_connects_an_account_without_a_page_and_subscribes_it(auth, browser, sandbox, sql,
                                                                             settings, studio):
    auth.register()
    assert 'id="connect-instagram" href="/connect/instagram"' in browser.get("/").text
    exchanges = sandbox.state.calls_to("/access_token")

    done = _log_in_with_instagram(browser, studio.id)

    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert "Connected Instagram account @sandbox.studio (Instagram Login)." in browser.get("/").text
    # Code -> short-lived token (api.instagram.com) -> ig_exchange_token (graph.instagram.com).
    assert sandbox.state.calls_to("/instagram-api/oauth/access_token") == 1
    assert sandbox.state.calls_to("/instagram/") and sandbox.state.calls_to("/access_token") == exchanges + 2
    listed = browser.api("GET", "/api/accounts").json()["accounts"]
    assert [(a["kind"], a["external_id"], a["name"], a["status"]) for a in listed] == [
        ("instagram", studio.id, "@sandbox.studio", "active")]
    assert listed[0]["details"]["token_kind"] == "instagram_login" and listed[0]["details"]["page_id"] is None
    row_id = int(listed[0]["id"].split("-")[1])
    token = stored_token(settings, sql, "instagram", row_id)
    assert sandbox.state.tokens[token].kind == "instagram"        # the long-lived one, not the 1-hour token
    assert sql("SELECT token_kind, expires_at > now() + interval '59 days' FROM credentials") == [
        ("instagram_login", True)]
    assert sandbox.state.instagram[studio.id].subscribed_fields == list(WEBHOOK_FIELDS)
    assert sql("SELECT kind, external_id, unsubscribed_at FROM webhook_subscriptions") == [
        ("instagram", studio.id, None)]
    assert sql("SELECT external_id, kind FROM account_routes") == [(studio.id, "instagram")]

    # Its webhooks arrive as object `instagram` and belong to the user.
    comment = {"object": "instagram", "entry": [{"id": studio.id, "time": 1764590400, "changes": [{
        "field": "comments", "value": {"from": {"id": "232323232", "username": "a.customer"},
                                       "media": {"id": "123123123", "media_product_type": "FEED"},
                                       "id": "17865799348089039", "text": "Love it"}}]}]}
    assert deliver(browser.base_url, comment).status_code == 200
    user = sql("SELECT id FROM users")[0][0]
    assert sql("SELECT user_id, object, field FROM webhook_events") == [(user, "instagram", "comments")]

    # A reply goes out through Instagram Login's send API with the account's own token.
    sent = graph.instagram_client(settings).send_text(token, "232323232", "Thank you!")
    assert sent["recipient_id"] == "232323232" and sent["message_id"]


def test_instagram_login_account_is_synced_refreshed_after_a_day_and_disconnected(auth, browser, sandbox, sql,
                                                                                 settings, db, studio):
    auth.register()
    assert _log_in_with_instagram(browser, studio.id).status_code == 302
    account = browser.api("GET", "/api/accounts").json()["accounts"][0]
    row_id = int(account["id"].split("-")[1])
    studio.followers_count = 777

    report = DataSync(db, vault_from_settings(settings), graph.meta_client(settings), graph.instagram_client(settings),
                      graph.tiktok_client(settings), spacing=0, sleep=lambda s: None).run()
    assert report.synced == [account["id"]] and report.failed == {}
    assert sql("SELECT followers_count FROM account_metrics") == [(777,)]

    # Less than 24 hours old: ig_refresh_token would be refused, so it is not tried.
    sql("UPDATE credentials SET expires_at = now() + interval '3 days'")
    assert refresh_run.run(settings, out=lambda line: None).outcomes == {}
    old = stored_token(settings, sql, "instagram", row_id)
    sandbox.state.age_tokens(25, value=old)
    sql("UPDATE credentials SET last_refreshed_at = now() - interval '25 hours'")

    assert refresh_run.run(settings, out=lambda line: None).outcomes == {"refreshed": 1}
    fresh = stored_token(settings, sql, "instagram", row_id)
    assert fresh != old and sandbox.state.token_problem(sandbox.state.tokens[fresh]) is None
    assert sql("SELECT expires_at > now() + interval '59 days' FROM credentials") == [(True,)]
    assert sql("SELECT method, outcome FROM token_refresh_log") == [("ig_refresh_token", "refreshed")]

    gone = browser.api("DELETE", f"/api/accounts/{account['id']}")
    assert gone.status_code == 200 and gone.json()["unsubscribed"] is True
    assert sandbox.state.instagram[studio.id].subscribed_fields is None
    assert sql("SELECT count(*) FROM instagram_accounts")[0][0] == 0
    assert sql("SELECT count(*) FROM webhook_subscriptions WHERE unsubscribed_at IS NULL")[0][0] == 0


def test_a_revoked_instagram_login_token_is_reconnected_by_instagram_login(auth, browser, sandbox, sql, studio):
    auth.register()
    assert _log_in_with_instagram(browser, studio.id).status_code == 302
    account = browser.api("GET", "/api/accounts").json()["accounts"][0]
    sandbox.state.revoke_tokens(subject=studio.id)

    checked = browser.api("POST", "/api/token-health/validate").json()["accounts"]

    assert [(a["status"], a["reconnect"]) for a in checked] == [("needs_reauth", "/connect/instagram")]
    assert f'href="/connect/instagram" data-reconnect="{account["id"]}"' in browser.get("/").text
    assert _log_in_with_instagram(browser, studio.id).status_code == 302
    assert [a["status"] for a in browser.api("GET", "/api/accounts").json()["accounts"]] == ["active"]


def test_declining_or_a_foreign_state_stores_nothing(auth, browser, sandbox, sql, studio):
    auth.register()
    _log_in_with_instagram(browser, studio.id, decision="deny")
    assert "Instagram was not connected" in browser.get("/").text
    # A TikTok state cannot finish an Instagram Login.
    start = browser.get("/connect/tiktok")
    back = browser.http.post(start.headers["Location"], data={"decision": "approve"}, allow_redirects=False)
    wrong = back.headers["Location"][len(browser.base_url):].replace("/connect/tiktok/callback",
                                                                     "/connect/instagram/callback")
    assert browser.get(wrong).status_code == 400
    assert sql("SELECT count(*) FROM instagram_accounts")[0][0] == 0
    assert sql("SELECT count(*) FROM credentials")[0][0] == 0


def test_the_code_exchange_strips_meta_s_suffix_and_reads_the_old_instagram_error_shape(sandbox, settings):
    from webhook_app.sandbox import sandbox_urls

    client = graph.instagram_login_client(settings.with_overrides(**sandbox_urls(sandbox.url)))
    with pytest.raises(graph.Permanent) as refused:
        client.exchange_code("not-a-code#_", "http://127.0.0.1/cb")
    assert "Error validating verification code" in refused.value.message
    code = sandbox.state.issue_code("instagram", next(iter(sandbox.state.instagram)), "http://127.0.0.1/cb",
                                    ["instagram_business_basic"])
    # Meta appends "#_" to the redirect's code: it is stripped before the exchange.
    got = client.exchange_code(code + "#_", "http://127.0.0.1/cb")
    assert got["access_token"].startswith("IGAA") and got["permissions"] == ["instagram_business_basic"]
