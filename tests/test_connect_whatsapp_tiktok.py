"""WhatsApp Business and TikTok connect flows, end to end against the sandbox."""
from __future__ import annotations

import pytest

from tests.support.live import consent
from webhook_app.accounts import store as accounts
from webhook_app.tokens.vault import Vault

pytestmark = pytest.mark.sandbox


def test_whatsapp_connect_stores_account_numbers_and_subscribes(auth, browser, sandbox, sql):
    auth.register()
    done = consent(browser, "/connect/whatsapp")
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert "Connected 1 WhatsApp Business account(s)." in browser.get("/").text
    waba = next(iter(sandbox.state.wabas.values()))
    assert waba.subscribed is True

    listed = browser.api("GET", "/api/accounts").json()["accounts"]
    assert [(a["kind"], a["external_id"], a["status"]) for a in listed] == [("whatsapp", waba.id, "active")]
    numbers = {n["id"] for n in listed[0]["details"]["phone_numbers"]}
    assert numbers == {p["id"] for p in waba.phone_numbers}
    routes = dict(sql("SELECT external_id, kind FROM account_routes"))
    assert routes == {waba.id: "whatsapp_business", **{n: "whatsapp_phone" for n in numbers}}
    assert sql("SELECT kind, external_id, unsubscribed_at FROM webhook_subscriptions") == [
        ("whatsapp_business", waba.id, None)]

    # Reconnecting updates the same row.
    consent(browser, "/connect/whatsapp")
    assert sql("SELECT count(*) FROM whatsapp_accounts")[0][0] == 1

    gone = browser.api("DELETE", f"/api/accounts/{listed[0]['id']}")
    assert gone.status_code == 200
    assert waba.subscribed is False
    assert sql("SELECT count(*) FROM whatsapp_accounts")[0][0] == 0
    assert sql("SELECT count(*) FROM whatsapp_phone_numbers")[0][0] == 0
    assert sql("SELECT count(*) FROM account_routes")[0][0] == 0
    assert sql("SELECT count(*) FROM webhook_subscriptions WHERE unsubscribed_at IS NULL")[0][0] == 0


def test_whatsapp_denied_stores_nothing(auth, browser, sql):
    auth.register()
    consent(browser, "/connect/whatsapp", decision="deny")
    assert "WhatsApp was not connected" in browser.get("/").text
    assert sql("SELECT count(*) FROM whatsapp_accounts")[0][0] == 0


def test_whatsapp_state_cannot_finish_a_meta_login(auth, browser, sql):
    auth.register()
    start = browser.get("/connect/whatsapp")
    callback = browser.http.post(start.headers["Location"], data={"decision": "approve"},
                                 allow_redirects=False).headers["Location"]
    wrong_flow = callback[len(browser.base_url):].replace("/connect/whatsapp/callback", "/connect/meta/callback")
    assert browser.get(wrong_flow).status_code == 400
    assert sql("SELECT count(*) FROM meta_accounts")[0][0] == 0


def test_tiktok_connect_and_disconnect(auth, browser, sandbox, sql):
    auth.register()
    done = consent(browser, "/connect/tiktok")
    assert done.status_code == 302
    user = sandbox.state.default_tiktok_user()
    assert f"Connected TikTok account {user.display_name}." in browser.get("/").text
    listed = browser.api("GET", "/api/accounts").json()["accounts"]
    assert [(a["kind"], a["external_id"], a["name"]) for a in listed] == [("tiktok", user.open_id, user.display_name)]
    # Status follows the 180-day refresh token, not the 2-hour access token.
    assert listed[0]["status"] == "active"
    assert listed[0]["expires_at"] > listed[0]["details"]["access_expires_at"]
    assert sql("SELECT external_id, kind FROM account_routes") == [(user.open_id, "tiktok")]

    assert browser.api("DELETE", f"/api/accounts/{listed[0]['id']}").status_code == 200
    assert sql("SELECT count(*) FROM tiktok_accounts")[0][0] == 0
    # Disconnect revoked the tokens at TikTok too.
    assert all(sandbox.state.token_problem(t) == "revoked"
               for t in sandbox.state.find_tokens(subject=user.open_id))


def test_tiktok_denied_stores_nothing(auth, browser, sql):
    auth.register()
    consent(browser, "/connect/tiktok", decision="deny")
    assert "TikTok was not connected" in browser.get("/").text
    assert sql("SELECT count(*) FROM tiktok_accounts")[0][0] == 0


def test_an_empty_refresh_token_never_wipes_the_stored_one(auth, browser, db, sql):
    auth.register()
    consent(browser, "/connect/tiktok")
    user_id, open_id = sql("SELECT user_id, open_id FROM tiktok_accounts")[0]
    vault = Vault((b"k" * 32,))
    before = sql("SELECT refresh_token_ciphertext, refresh_expires_at FROM credentials WHERE kind = 'tiktok'")[0]
    accounts.store_tiktok_account(db, vault, user_id, user={"open_id": open_id, "display_name": "Renamed"},
                                  tokens={"open_id": open_id, "access_token": "act.new-access", "expires_in": 86400,
                                          "refresh_token": "", "scope": "user.info.basic"})
    after = sql("SELECT c.refresh_token_ciphertext, c.refresh_expires_at, t.display_name FROM credentials c "
                "JOIN tiktok_accounts t ON t.id = c.account_id WHERE c.kind = 'tiktok'")[0]
    assert bytes(after[0]) == bytes(before[0]) and after[1] == before[1] and after[2] == "Renamed"
    row = db.one("get_tiktok_account", id=sql("SELECT id FROM tiktok_accounts")[0][0], user_id=user_id)
    assert accounts.open_token(vault, row) == "act.new-access"
    assert accounts.open_token(vault, row, "refresh_token").startswith("rft.")


def test_connect_starts_are_rate_limited_per_user(sandbox, settings, tmp_path):
    from tests.support.live import AuthActions, Browser, LiveServer
    from webhook_app import create_app

    limits = {**settings.ratelimits, "RATELIMIT_CONNECT": "2 per day"}
    app = create_app(settings.with_overrides(ratelimits=limits))
    live = LiveServer(app).start()
    try:
        browser = Browser(live.url)
        AuthActions(browser).register()
        assert browser.get("/connect/meta").status_code == 302
        assert browser.get("/connect/tiktok").status_code == 302
        third = browser.get("/connect/whatsapp")
        assert third.status_code == 429 and "Retry-After" in third.headers
    finally:
        live.stop()
        app.extensions["database"].close()
