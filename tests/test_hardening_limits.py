"""Limits that hold under concurrency (SPEC 12, 14): N simultaneous failed logins let at most the limit through."""
import threading

from tests.support.live import Browser


def _simultaneous_logins(base_url: str, n: int, password: str) -> list[int]:
    browsers = [Browser(base_url) for _ in range(n)]
    for browser in browsers:
        browser.get("/auth/login")  # each its own session and CSRF token
    barrier = threading.Barrier(n)
    statuses: list[int] = [0] * n

    def attempt(i: int) -> None:
        token = browsers[i].csrf_token
        barrier.wait()
        statuses[i] = browsers[i].post_form("/auth/login", {"email": "owner@example.com", "password": password,
                                                            "csrf_token": token}, timeout=60).status_code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return statuses


def test_forty_simultaneous_wrong_passwords_check_at_most_five(app, server, auth):
    # A realistic bcrypt cost: the password check takes long enough for the attempts to overlap.
    app.config["BCRYPT_ROUNDS"] = 10
    auth.register()
    auth.logout()
    statuses = _simultaneous_logins(server.url, 40, "wrong password")
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(401) + statuses.count(429) == 40, statuses


def test_a_successful_login_gives_its_attempt_back(app, server, auth, browser):
    auth.register()
    auth.logout()
    for _ in range(4):
        assert auth.login(password="wrong password").status_code == 401
    for _ in range(3):  # successes in between do not use up the allowance
        assert auth.login().status_code == 302
        auth.logout()
    assert auth.login(password="wrong password").status_code == 401  # the fifth failure
    assert auth.login(password="wrong password").status_code == 429
    assert auth.login().status_code == 429  # and now even the right password waits
