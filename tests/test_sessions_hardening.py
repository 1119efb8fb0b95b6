"""Sessions stored only when they hold something; the CSRF token changes at login (SPEC 14)."""
import subprocess
import sys

import pytest

from tests.support.live import ROOT, Browser, app_env


def test_anonymous_visits_store_no_session_rows(server, sql):
    for _ in range(200):  # a crawler: no cookies kept between visits
        visitor = Browser(server.url)
        assert visitor.get("/auth/login").status_code == 200
        assert visitor.get("/auth/status").status_code == 200
        assert visitor.get("/").status_code == 302
    assert sql("SELECT count(*) FROM sessions") == [(0,)]


def test_the_login_form_still_works_without_a_row(server, auth, browser, sql):
    auth.register()
    auth.logout()
    browser.get("/auth/login")
    assert sql("SELECT count(*) FROM sessions") == [(0,)]
    assert auth.login().status_code == 302
    assert browser.get("/auth/status").json()["authenticated"] is True
    assert sql("SELECT count(*) FROM sessions WHERE user_id IS NOT NULL") == [(1,)]


def test_a_form_token_is_worth_nothing_with_another_visitors_cookie(server, auth):
    auth.register()
    auth.logout()
    mine, theirs = Browser(server.url), Browser(server.url)
    mine.get("/auth/login")
    theirs.get("/auth/login")
    refused = theirs.post_form("/auth/login", {"email": "owner@example.com", "password": "correct horse",
                                               "csrf_token": mine.csrf_token})
    assert refused.status_code == 400 and "security token" in refused.text
    forged = Browser(server.url)
    forged.http.cookies.set("insta_session", "a.eyJjc3JmX3Rva2VuIjoiMTIzIn0.forged")
    forged.csrf_token = mine.csrf_token
    assert forged.post_form("/auth/login", {"email": "owner@example.com", "password": "correct horse"}).status_code == 400


def test_the_csrf_token_from_before_login_is_refused_after_it(server, auth, browser):
    auth.register()
    auth.logout()
    browser.get("/auth/login")
    before_login = browser.csrf_token
    assert auth.login().status_code == 302
    stale = browser.http.post(browser.url("/auth/logout"), data={"csrf_token": before_login},
                              allow_redirects=False, timeout=15)
    assert stale.status_code == 400 and "security token" in stale.text
    assert browser.get("/auth/status").json()["authenticated"] is True
    browser.get("/")  # the dashboard carries the new token
    assert browser.csrf_token != before_login
    assert auth.logout().status_code == 302


@pytest.mark.slow  # starts a subprocess
def test_prune_deletes_expired_and_abandoned_anonymous_sessions(settings, sql):
    user_id = sql("INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x') RETURNING id")[0][0]
    sql("INSERT INTO sessions (session_id, user_id, data, expires_at, updated_at) VALUES "
        "('expired', NULL, '', now() - interval '1 hour', now() - interval '31 days'), "
        "('abandoned', NULL, '', now() + interval '29 days', now() - interval '2 days'), "
        "('fresh-anonymous', NULL, '', now() + interval '30 days', now()), "
        "('idle-user', %s, '', now() + interval '29 days', now() - interval '2 days')", (user_id,))
    done = subprocess.run([sys.executable, "-m", "jobs.prune"], cwd=ROOT, env=app_env(settings),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(sql("SELECT session_id FROM sessions")) == [("fresh-anonymous",), ("idle-user",)]
