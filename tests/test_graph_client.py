"""The Graph and TikTok clients against the sandbox's real error bodies and headers."""
from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from webhook_app.accounts import graph
from webhook_app.config import Settings
from webhook_app.sandbox import sandbox_urls
from webhook_app.sandbox.state import LONG_LIVED_SECONDS

SECRET = "test-app-secret"


class Sleeps(list):
    """Records the pauses a client asks for instead of waiting them out."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client_settings(sandbox):
    return Settings(meta_app_secret=SECRET, **sandbox_urls(sandbox.url))


@pytest.fixture
def client(client_settings, sleeps):
    return graph.meta_client(client_settings, sleep=sleeps, timeout=(2, 2))


@pytest.fixture
def page(sandbox):
    """A Page with a valid Page token, as /me/accounts hands it out."""
    state = sandbox.state
    user = state.default_meta_user()
    page = state.pages[user.page_ids[0]]
    parent = state.issue_token("user_long", user.id, ["pages_show_list", "pages_manage_metadata"],
                               lifetime=LONG_LIVED_SECONDS)
    token = state.issue_token("page", page.id, parent.scopes, lifetime=None, parent=parent.value)
    return page, token.value


def test_a_good_call_answers_json(client, page):
    page_obj, token = page
    assert client.get(f"/{page_obj.id}", token, fields="id,name") == {"id": page_obj.id, "name": page_obj.name}


def test_expired_and_revoked_tokens_need_reauthorization(client, sandbox, page):
    page_obj, token = page
    sandbox.state.expire_tokens(kind="user_long")
    with pytest.raises(graph.ReauthorizationRequired) as expired:
        client.get(f"/{page_obj.id}", token)
    assert expired.value.code == 190 and expired.value.subcode == 463 and expired.value.fbtrace_id

    sandbox.state.reset()
    state = sandbox.state
    user = state.default_meta_user()
    fresh = state.issue_token("user_long", user.id, ["pages_show_list"], lifetime=LONG_LIVED_SECONDS)
    state.revoke_tokens(value=fresh.value)
    with pytest.raises(graph.ReauthorizationRequired) as revoked:
        client.get("/me", fresh.value)
    assert revoked.value.code == 190 and revoked.value.subcode == 458


def test_unknown_token_and_missing_permission_need_reauthorization(client, sandbox):
    with pytest.raises(graph.ReauthorizationRequired) as unknown:
        client.get("/me", "EAAnot-a-token")
    assert unknown.value.code == 190
    user = sandbox.state.default_meta_user()
    narrow = sandbox.state.issue_token("user_long", user.id, ["public_profile"], lifetime=3600)
    with pytest.raises(graph.ReauthorizationRequired) as permission:
        client.get("/me/accounts", narrow.value)
    assert permission.value.code == 200 and "pages_show_list" in permission.value.message


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_rate_limit_codes_are_rate_limited_and_not_retried(client, sandbox, page, code):
    page_obj, token = page
    sandbox.state.add_fault(code, times=1)
    before = sandbox.state.calls_to(page_obj.id)
    with pytest.raises(graph.RateLimited) as limited:
        client.get(f"/{page_obj.id}", token)
    assert limited.value.code == code
    assert limited.value.retry_after == 300  # the usage header's estimated_time_to_regain_access (5 min)
    assert sandbox.state.calls_to(page_obj.id) == before + 1
    assert client.last_usage.percent == 100


def test_transient_errors_are_retried_with_backoff(client, sandbox, page, sleeps):
    page_obj, token = page
    sandbox.state.add_fault(2, times=2)
    assert client.get(f"/{page_obj.id}", token, fields="id")["id"] == page_obj.id
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.5  # backoff grows (with jitter)


def test_transient_errors_outliving_the_retries_raise_transient(client, sandbox, page, sleeps):
    page_obj, token = page
    sandbox.state.add_fault(1, times=None)
    with pytest.raises(graph.Transient) as failed:
        client.get(f"/{page_obj.id}", token)
    assert failed.value.code == 1 and failed.value.status == 500
    assert sandbox.state.calls_to(page_obj.id) == 1 + client.max_retries


def test_a_timeout_is_transient(client_settings, sandbox, page, sleeps):
    page_obj, token = page
    sandbox.state.set_latency(800)
    quick = graph.meta_client(client_settings, sleep=sleeps, timeout=(1, 0.2), max_retries=1)
    with pytest.raises(graph.Transient) as slow:
        quick.get(f"/{page_obj.id}", token)
    assert "Timeout" in slow.value.message


def test_unknown_object_is_permanent(client, page):
    _, token = page
    with pytest.raises(graph.Permanent) as missing:
        client.get("/1234567890", token)
    assert missing.value.code == 100 and missing.value.subcode == 33
    assert "does not exist" in str(missing.value)


def test_high_usage_slows_the_client_down(client, sandbox, page, sleeps):
    page_obj, token = page
    client.get(f"/{page_obj.id}", token)
    assert sleeps == []
    sandbox.state.set_usage(95)
    client.get(f"/{page_obj.id}", token)
    assert client.last_usage.percent == 95
    assert len(sleeps) == 1 and 0 < sleeps[0] <= client.max_slowdown


def test_paging_follows_every_page(client, sandbox):
    state = sandbox.state
    user = state.default_meta_user()
    state.seed_pages(user.id, 7)
    token = state.issue_token("user_long", user.id, ["pages_show_list"], lifetime=3600)
    names = [p["name"] for p in client.paginate("/me/accounts", token.value, limit=3, fields="id,name")]
    assert len(names) == 9 and len(set(names)) == 9
    assert state.calls_to("/me/accounts") == 3


def test_tokens_never_appear_in_logged_urls(client, page, caplog):
    page_obj, token = page
    caplog.set_level(logging.DEBUG)
    client.get(f"/{page_obj.id}", token)
    client.debug_token(token)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"GET /v26.0/{page_obj.id}" in text
    assert token not in text and SECRET not in text


def test_instagram_refresh_needs_a_day_old_token(client_settings, sandbox, sleeps):
    state = sandbox.state
    ig_id = next(iter(state.instagram))
    token = state.issue_token("instagram", ig_id, ["instagram_business_basic"], lifetime=LONG_LIVED_SECONDS)
    ig = graph.instagram_client(client_settings, sleep=sleeps)
    with pytest.raises(graph.Permanent):
        ig.refresh_token(token.value)
    state.age_tokens(25, value=token.value)
    fresh = ig.refresh_token(token.value)
    assert fresh["expires_in"] == LONG_LIVED_SECONDS and fresh["access_token"] != token.value
    assert ig.get("/me", fresh["access_token"], fields="id,username,followers_count")["followers_count"] > 0


def test_tiktok_invalid_grant_needs_reauthorization(client_settings, sandbox, sleeps):
    tiktok = graph.tiktok_client(client_settings, sleep=sleeps)
    with pytest.raises(graph.ReauthorizationRequired) as bad_refresh:
        tiktok.refresh("rft.not-a-token")
    assert bad_refresh.value.code == "invalid_grant"
    with pytest.raises(graph.ReauthorizationRequired) as bad_access:
        tiktok.user_info("act.not-a-token")
    assert bad_access.value.code == "access_token_invalid"
    sandbox.state.add_fault(4, api="tiktok")
    with pytest.raises(graph.RateLimited):
        tiktok.user_info("act.whatever")


def test_tiktok_refresh_returns_a_new_pair(client_settings, sandbox, sleeps):
    state = sandbox.state
    user = state.default_tiktok_user()
    refresh = state.issue_token("tiktok_refresh", user.open_id, ["user.info.basic"], lifetime=86400)
    tiktok = graph.tiktok_client(client_settings, sleep=sleeps)
    pair = tiktok.refresh(refresh.value)
    assert pair["refresh_token"] != refresh.value and pair["expires_in"] == 7200   # TikTok: 2 hours
    assert tiktok.user_info(pair["access_token"])["display_name"] == user.display_name


def test_classify_by_code_and_subcode():
    assert graph.classify(400, {"code": 190, "error_subcode": 460}) is graph.ReauthorizationRequired
    assert graph.classify(403, {"code": 10}) is graph.ReauthorizationRequired
    assert graph.classify(403, {"code": 341}) is graph.RateLimited
    assert graph.classify(403, {"code": 80014}) is graph.RateLimited
    assert graph.classify(403, {"code": 613, "is_transient": True}) is graph.RateLimited
    assert graph.classify(500, {"code": 2}) is graph.Transient
    assert graph.classify(502, {}) is graph.Transient
    assert graph.classify(400, {"code": 100, "error_subcode": 33}) is graph.Permanent


def test_a_call_limit_set_over_http_shows_in_the_usage_headers_and_refuses_beyond(client, sandbox, page, sleeps):
    page_obj, token = page
    limit = requests.post(sandbox.url + "/_sandbox/api/call-limit", json={"calls": 5, "window_seconds": 60},
                          timeout=10).json()
    assert limit["call_limit"] == {"calls": 5, "window_seconds": 60.0}
    seen = []
    for _ in range(5):
        client.get(f"/{page_obj.id}", token)
        seen.append(client.last_usage.percent)
    assert seen == [20, 40, 60, 80, 100]
    assert sleeps == [client.max_slowdown]  # it paused once, the longest, when the limit was reached
    with pytest.raises(graph.RateLimited):
        client.get(f"/{page_obj.id}", token)
    counters = requests.get(sandbox.url + "/_sandbox/api/counters", timeout=10).json()
    assert counters["usage_peak"] == 120 and counters["calls"] == sandbox.state.calls_to(page_obj.id)
    requests.post(sandbox.url + "/_sandbox/api/call-limit", json={}, timeout=10)
    client.get(f"/{page_obj.id}", token)
    assert client.last_usage.percent < 80


def test_a_proxy_set_in_the_environment_carries_the_calls(monkeypatch, sleeps):
    seen = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)  # a proxy is asked for the absolute URL
            body = b'{"id": "42"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        client = graph.GraphClient("http://graph.example.test", "v24.0", sleep=sleeps)
        assert client.get("/42", "token", fields="id") == {"id": "42"}
        assert seen and seen[0].startswith("http://graph.example.test/v24.0/42?")
    finally:
        proxy.shutdown()
