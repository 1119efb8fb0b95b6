"""Rate limits (SPEC 12) with counters in PostgreSQL, shared by every worker process."""
import pytest

from tests.support.live import AuthActions, Browser, Gunicorn, app_env


def _fail_logins(browser: Browser, times: int) -> list:
    AuthActions(browser).login("owner@example.com", "wrong password")  # loads the form, 1st failure
    answers = []
    for _ in range(times - 1):
        answers.append(browser.post_form("/auth/login", {"email": "owner@example.com", "password": "wrong"}))
    return answers


def test_sixth_failed_login_is_429_with_retry_after(auth, browser):
    auth.register()
    auth.logout()
    answers = _fail_logins(browser, 5)
    assert [r.status_code for r in answers] == [401] * 4
    sixth = browser.post_form("/auth/login", {"email": "owner@example.com", "password": "correct horse"})
    assert sixth.status_code == 429
    assert int(sixth.headers["Retry-After"]) > 0
    assert "Too many requests" in sixth.text


def test_successful_logins_do_not_count(auth, browser):
    auth.register()
    for _ in range(7):
        auth.logout()
        assert auth.login().status_code == 302


@pytest.mark.slow
def test_failed_logins_are_counted_across_two_gunicorn_workers(settings, tmp_path, sql):
    # Two gunicorn servers of one worker each, on one database: the attempts alternate between the
    # two worker processes deterministically, so only a shared counter can stop the sixth.
    servers = [Gunicorn(app_env(settings), workers=1, log_path=tmp_path / f"gunicorn{i}.log") for i in range(2)]
    try:
        statuses = []
        for attempt in range(6):
            browser = Browser(servers[attempt % 2].url)
            browser.get("/auth/login")
            statuses.append(browser.post_form("/auth/login", {"email": "a@example.com", "password": "nope"}).status_code)
        assert statuses == [401] * 5 + [429]
        assert sql("SELECT count(*) FROM rate_limit_counters WHERE key LIKE %s", ("%auth.login%",))[0][0] == 1
    finally:
        for server in servers:
            server.stop()
    pids = {(tmp_path / f"gunicorn{i}.log").read_text().split("Booting worker with pid: ")[1].split()[0] for i in range(2)}
    assert len(pids) == 2


def test_registrations_are_limited_per_ip(app, browser):
    app.config["RATELIMITS"]["RATELIMIT_REGISTER"] = "3 per hour"
    codes = [AuthActions(browser).register(f"user{i}@example.com", "correct horse").status_code for i in range(4)]
    assert codes == [302, 302, 302, 429]


def test_api_limit_counts_anonymous_callers_by_ip(app, browser):
    app.config["RATELIMITS"]["RATELIMIT_API_ANONYMOUS"] = "3 per 15 minutes"
    codes = [browser.api("GET", "/api/accounts").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    refused = browser.api("GET", "/api/pages")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "error" in refused.json()


def test_api_limit_counts_logged_in_users_separately(app, server, auth, browser):
    app.config["RATELIMITS"]["RATELIMIT_API_USER"] = "2 per 15 minutes"
    auth.register("first@example.com", "correct horse")
    assert [browser.api("GET", "/api/accounts").status_code for _ in range(3)] == [200, 200, 429]
    other = Browser(server.url)
    AuthActions(other).register("second@example.com", "correct horse")
    assert other.api("GET", "/api/accounts").status_code == 200
