"""Re-authorization reasons (issue 21): each of Meta's 190 subcodes and TikTok's refusals tells the user what
happened and what to do, on the banner and in the accounts API."""
from __future__ import annotations

import pytest
from markupsafe import escape

from tests.support.live import consent
from webhook_app.tokens import reauth, refresh_run

pytestmark = pytest.mark.sandbox

SUBCODES = {
    458: "The app was removed from this account",
    459: "completes a security check",
    460: "password was changed",
    463: "The access token expired",
    464: "has not confirmed their Facebook account",
    467: "logged out or invalidated",
    492: "no longer has a role on it",
}


@pytest.mark.parametrize("subcode", sorted(SUBCODES))
def test_each_190_subcode_gives_its_own_message_on_the_banner_and_in_the_api(subcode, auth, browser, sandbox, sql,
                                                                            settings):
    auth.register()
    assert consent(browser, "/connect/meta").status_code == 302
    meta_id = sql("SELECT id FROM meta_accounts")[0][0]
    sql("UPDATE credentials SET expires_at = now() + interval '3 days' WHERE kind = 'meta'")
    sandbox.state.add_fault(190, subcode=subcode, path_contains="/oauth/access_token")

    assert refresh_run.run(settings, out=lambda line: None).outcomes == {"needs_reauth": 1}

    accounts = {a["id"]: a for a in browser.api("GET", "/api/accounts").json()["accounts"]}
    login = accounts[f"meta-{meta_id}"]
    assert login["status"] == "needs_reauth"
    assert login["status_reason"] == reauth.META_SUBCODES[subcode]
    assert SUBCODES[subcode] in login["status_reason"]
    assert login["reconnect"] == "/connect/meta"
    page = browser.get("/").text
    assert str(escape(reauth.META_SUBCODES[subcode])) in page
    # Meta's own words are not what the user reads (a banner once said "Session has expired.; connect ...").
    assert "Session has expired" not in page


def test_the_messages_differ_from_each_other_and_from_the_fallback():
    messages = [reauth.message("meta", 190, s) for s in SUBCODES]
    assert len(set(messages)) == len(SUBCODES)
    assert reauth.META_DEFAULT not in messages
    assert reauth.message("meta", 190, None) == reauth.META_DEFAULT
    assert reauth.message("meta", 200) == reauth.META_PERMISSION
    assert reauth.message("tiktok", "invalid_grant") != reauth.message("tiktok", "scope_not_authorized")
    assert reauth.message("meta", "not a number", "x") == reauth.META_DEFAULT


def test_a_token_debug_token_calls_revoked_shows_the_app_removed_message(auth, browser, sandbox, sql):
    auth.register()
    assert consent(browser, "/connect/whatsapp").status_code == 302
    sandbox.state.revoke_tokens(kind="user_long")

    checked = browser.api("POST", "/api/token-health/validate").json()["accounts"]

    assert [a["status"] for a in checked] == ["needs_reauth"]
    assert checked[0]["status_reason"] == reauth.META_SUBCODES[458]
    assert checked[0]["reconnect"] == "/connect/whatsapp"
    assert str(escape(reauth.META_SUBCODES[458])) in browser.get("/").text
