"""debug_token's data_access_expires_at (issue 21): shown per account, with its own banner before it ends."""
from __future__ import annotations

import pytest

from tests.support.live import consent

pytestmark = pytest.mark.sandbox


def test_data_access_end_is_shown_per_account_and_warned_about_two_weeks_ahead(auth, browser, sandbox, sql):
    auth.register()
    assert consent(browser, "/connect/meta").status_code == 302
    login = next(a for a in browser.api("GET", "/api/accounts").json()["accounts"] if a["kind"] == "facebook")
    # The sandbox's debug_token says 90 days from the consent, as Meta does.
    assert sql("SELECT data_access_expires_at - now() BETWEEN interval '89 days' AND interval '90 days' "
               "FROM credentials WHERE kind = 'meta'") == [(True,)]
    assert login["data_access_expires_at"] and login["data_access_warning"] is None
    assert "data-data-access" not in browser.get("/").text

    sql("UPDATE credentials SET data_access_expires_at = now() + interval '5 days' WHERE kind = 'meta'")
    login = next(a for a in browser.api("GET", "/api/accounts").json()["accounts"] if a["kind"] == "facebook")
    assert "Meta stops sharing Sandbox Owner's data on" in login["data_access_warning"]
    page = browser.get("/").text
    assert f'data-data-access="{login["id"]}"' in page

    # What debug_token said last wins over what was stored at connect time.
    checked = browser.api("POST", "/api/token-health/validate").json()["accounts"]
    assert {a["kind"] for a in checked if a["data_access_expires_at"]} == {"meta", "instagram"}
    login = next(a for a in browser.api("GET", "/api/accounts").json()["accounts"] if a["kind"] == "facebook")
    assert login["data_access_warning"] is None
    assert "data-data-access" not in browser.get("/").text


def test_passed_data_access_asks_for_a_reconnect(auth, browser, sandbox, sql):
    auth.register()
    assert consent(browser, "/connect/whatsapp").status_code == 302
    sql("UPDATE credentials SET data_access_expires_at = now() - interval '1 day'")
    account = browser.api("GET", "/api/accounts").json()["accounts"][0]
    assert "Meta stopped sharing" in account["data_access_warning"]
    assert 'href="/connect/whatsapp"' in browser.get("/").text
