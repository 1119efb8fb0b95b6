"""A Meta object belongs to the first user who connected it (SPEC 14): another user is refused, never handed its webhooks."""
import pytest

from tests.support.live import AuthActions, Browser, consent
from tests.support.webhooks import deliver, ig_messages

pytestmark = pytest.mark.sandbox


def _user(server, email):
    browser = Browser(server.url)
    AuthActions(browser).register(email, "correct horse")
    return browser


def _stored_for(sql, email):
    return sql("""SELECT (SELECT count(*) FROM meta_accounts m WHERE m.user_id = u.id)
                       + (SELECT count(*) FROM pages p WHERE p.user_id = u.id)
                       + (SELECT count(*) FROM instagram_accounts i WHERE i.user_id = u.id)
                       + (SELECT count(*) FROM whatsapp_accounts w WHERE w.user_id = u.id)
                       + (SELECT count(*) FROM credentials c WHERE c.user_id = u.id)
                       + (SELECT count(*) FROM account_routes r WHERE r.user_id = u.id)
                  FROM users u WHERE email = %s""", (email,))[0][0]


def test_a_second_user_connecting_the_same_page_is_refused_and_the_first_keeps_its_webhooks(server, sandbox, sql):
    first, second = _user(server, "first@example.com"), _user(server, "second@example.com")
    assert consent(first, "/connect/meta").status_code == 302
    coffee = next(p for p in sandbox.state.pages.values() if p.name == "Sandbox Coffee House")

    refused = consent(second, "/connect/meta")
    assert refused.status_code == 409
    assert "Sandbox Coffee House" in refused.text and "another user" in refused.text
    assert _stored_for(sql, "second@example.com") == 0
    assert second.api("GET", "/api/accounts").json()["accounts"] == []

    # The first user's account still receives the Page's Instagram messages.
    assert deliver(server.url, ig_messages(coffee.ig_id, ["after-refusal"])).status_code == 200
    owner = sql("SELECT u.email FROM webhook_events e JOIN users u ON u.id = e.user_id")
    assert owner == [("first@example.com",)]
    statuses = {a["kind"]: a["status"] for a in first.api("GET", "/api/accounts").json()["accounts"]}
    assert statuses == {"facebook": "active", "instagram": "active"}


def test_a_refused_user_disconnecting_cannot_orphan_the_first_users_routes(server, sandbox, sql):
    first, second = _user(server, "first@example.com"), _user(server, "second@example.com")
    consent(first, "/connect/meta")
    routes = sorted(sql("SELECT external_id, user_id FROM account_routes"))
    consent(second, "/connect/meta")
    mine = first.api("GET", "/api/accounts").json()["accounts"]
    for account in mine:  # the second user tries the first user's ids: not theirs, 404
        assert second.api("DELETE", f"/api/accounts/{account['id']}").status_code == 404
    assert sorted(sql("SELECT external_id, user_id FROM account_routes")) == routes


def test_a_second_user_connecting_the_same_whatsapp_business_account_is_refused(server, sandbox, sql):
    first, second = _user(server, "first@example.com"), _user(server, "second@example.com")
    assert consent(first, "/connect/whatsapp").status_code == 302
    waba = next(iter(sandbox.state.wabas.values()))
    refused = consent(second, "/connect/whatsapp")
    assert refused.status_code == 409 and waba.name in refused.text
    assert _stored_for(sql, "second@example.com") == 0
    assert {u for (u,) in sql("SELECT u.email FROM account_routes r JOIN users u ON u.id = r.user_id")} == {
        "first@example.com"}


def test_the_same_user_reconnecting_keeps_working(server, sandbox, sql):
    first = _user(server, "first@example.com")
    assert consent(first, "/connect/meta").status_code == 302
    assert consent(first, "/connect/meta").status_code == 302
    assert consent(first, "/connect/whatsapp").status_code == 302
    assert consent(first, "/connect/whatsapp").status_code == 302
