"""Password hashing never blocks the event loop that serves webhook deliveries (SPEC 14)."""
import statistics
import threading
import time

import pytest
import requests

from tests.support.live import AuthActions, Browser, Gunicorn, app_env
from tests.support.webhooks import deliver, ig_messages

ROUNDS = 12  # the production default: a hash takes a noticeable fraction of a second
TRIALS = 6


@pytest.mark.slow  # a gevent gunicorn worker, as production runs it
def test_a_delivery_during_a_login_does_not_wait_for_the_password_hash(settings, tmp_path):
    server = Gunicorn(app_env(settings, BCRYPT_ROUNDS=str(ROUNDS)), workers=1, log_path=tmp_path / "g.log")
    http = requests.Session()
    trials = []
    try:
        browser = Browser(server.url)
        auth = AuthActions(browser)
        auth.register()
        for i in range(TRIALS):
            auth.logout()
            browser.get("/auth/login")
            login = {}

            def log_in():
                started = time.perf_counter()
                login["status"] = browser.post_form(
                    "/auth/login", {"email": "owner@example.com", "password": "correct horse"}).status_code
                login["seconds"] = time.perf_counter() - started

            thread = threading.Thread(target=log_in)
            thread.start()
            # The login's hash is under way a few milliseconds after its request is sent; the
            # delivery goes a tenth of a second later (nothing to poll for: the hash is silent).
            time.sleep(0.1)
            started = time.perf_counter()
            assert deliver(server.url, ig_messages("ig-latency", [f"during-{i}"]), session=http).status_code == 200
            delivery = time.perf_counter() - started
            thread.join(60)
            assert login["status"] == 302
            trials.append((delivery, login["seconds"]))
    finally:
        server.stop()
    print("delivery / login (ms): " + ", ".join(f"{d * 1000:.0f}/{s * 1000:.0f}" for d, s in trials))
    # On the event loop the delivery waited for the rest of the hash (most of the login's time);
    # off it, the delivery is answered while the hash goes on.
    ratios = [delivery / login for delivery, login in trials]
    assert statistics.median(ratios) < 0.5, trials
