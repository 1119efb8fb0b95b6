"""Accounts over real HTTP: register, log in, log out, status, CSRF, safe redirects."""
from tests.support.live import Browser

PASSWORD = "correct horse"


def test_register_logs_in_and_lands_on_dashboard(auth, browser, sql):
    response = auth.register("new@example.com", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = browser.get("/")
    assert page.status_code == 200
    assert "new@example.com" in page.text
    stored = sql("SELECT email, password_hash FROM users")
    assert stored[0][0] == "new@example.com"
    assert PASSWORD not in stored[0][1] and stored[0][1].startswith("$2")


def test_duplicate_email_is_409_in_any_case(auth, server, sql):
    auth.register("dup@example.com", PASSWORD)
    other = Browser(server.url)
    from tests.support.live import AuthActions

    response = AuthActions(other).register("DUP@example.com", PASSWORD)
    assert response.status_code == 409
    assert "already exists" in response.text
    assert sql("SELECT count(*) FROM users")[0][0] == 1


def test_weak_password_and_bad_email_are_400(auth, sql):
    assert auth.register("weak@example.com", "short").status_code == 400
    assert auth.register("not-an-email", PASSWORD).status_code == 400
    assert sql("SELECT count(*) FROM users")[0][0] == 0


def test_login_right_and_wrong(auth, server):
    auth.register()
    auth.logout()
    unknown = auth.login("nobody@example.com", PASSWORD)
    wrong = auth.login("owner@example.com", "wrong password")
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong email or password." in unknown.text
    assert "Wrong email or password." in wrong.text
    right = auth.login()
    assert right.status_code == 302 and right.headers["Location"] == "/"


def test_status_before_and_after_login(auth, browser):
    assert browser.get("/auth/status").json() == {"authenticated": False, "user": None}
    auth.register()
    body = browser.get("/auth/status").json()
    assert body["authenticated"] is True and body["user"]["email"] == "owner@example.com"
    auth.logout()
    assert browser.get("/auth/status").json()["authenticated"] is False


def test_logout_deletes_the_server_side_session(auth, browser, sql):
    auth.register()
    sid = browser.session_cookie
    assert sql("SELECT count(*) FROM sessions WHERE session_id = %s AND user_id IS NOT NULL", (sid,))[0][0] == 1
    response = auth.logout()
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    assert sql("SELECT count(*) FROM sessions WHERE session_id = %s", (sid,))[0][0] == 0
    assert browser.get("/").status_code == 302


def test_session_id_changes_at_login(auth, browser):
    auth.register()
    auth.logout()
    browser.get("/auth/login")
    before = browser.session_cookie
    assert before, "the login form sets an anonymous session for its CSRF token"
    auth.login()
    after = browser.session_cookie
    assert after and after != before
    # The old id is worth nothing now.
    stale = Browser(browser.base_url)
    stale.http.cookies.set("insta_session", before)
    assert stale.get("/auth/status").json()["authenticated"] is False


def test_forged_and_expired_session_ids_are_anonymous(auth, browser, sql):
    auth.register()
    forged = Browser(browser.base_url)
    forged.http.cookies.set("insta_session", "forged-session-id")
    assert forged.get("/auth/status").json()["authenticated"] is False
    sql("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert browser.get("/auth/status").json()["authenticated"] is False


def test_session_survives_an_app_restart(auth, browser, settings):
    from tests.support.live import LiveServer
    from webhook_app import create_app

    auth.register()
    cookie = browser.session_cookie
    restarted = LiveServer(create_app(settings)).start()
    try:
        again = Browser(restarted.url)
        again.http.cookies.set("insta_session", cookie)
        assert again.get("/auth/status").json()["authenticated"] is True
    finally:
        restarted.stop()


def test_form_post_without_csrf_token_is_refused(browser, sql):
    browser.get("/auth/register")
    response = browser.post_form("/auth/register", {"email": "x@example.com", "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "security token" in response.text
    assert sql("SELECT count(*) FROM users")[0][0] == 0


def test_next_is_followed_only_for_same_site_paths(auth):
    auth.register()
    auth.logout()
    assert auth.login(next="/api/accounts").headers["Location"] == "/api/accounts"
    auth.logout()
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = auth.login(next=evil)
        assert response.status_code == 302
        assert response.headers["Location"] == "/", evil
        auth.logout()


def test_pages_need_login(browser):
    page = browser.get("/")
    assert page.status_code == 302 and page.headers["Location"] == "/auth/login?next=/"


def test_security_headers_and_cookie_flags(auth, browser):
    response = auth.register()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = browser.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"]
