"""Bad input of any kind gets a 4xx with a message, never a 500 (SPEC 14)."""
import json
import re
import socket
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.support.live import AuthActions, Browser
from tests.support.webhooks import sign

pytestmark = pytest.mark.sandbox

UNICODE_DIGITS = ["١٢٣", "²", "߁", "𝟗", "٣" * 25, "１２"]
HUGE = [str(2**63), "9" * 30, "-1", "0"]


@pytest.fixture
def user(server, browser, auth):
    auth.register()
    browser.get("/")
    return browser


def _json_error(response):
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.json()["error"], response.text


@pytest.mark.parametrize("path", [f"/api/webhook-events/{v}" for v in UNICODE_DIGITS + HUGE])
def test_ids_in_odd_digits_or_beyond_bigint_are_404(user, path):
    response = user.api("GET", quote(path))
    assert response.status_code == 404, (response.status_code, response.text[:300])


@pytest.mark.parametrize("account", ["instagram-²", "instagram-١٢", "instagram-" + "9" * 30, "page-" + str(2**63)])
def test_account_ids_in_odd_digits_or_beyond_bigint_are_404(user, account):
    response = user.api("DELETE", "/api/accounts/" + quote(account))
    assert response.status_code == 404, (response.status_code, response.text[:300])
    assert response.json()["error"] == "No such account."


@pytest.mark.parametrize("query", [
    {"days": "²"}, {"days": "٣" * 30},
])
def test_metrics_days_in_odd_digits_is_400(user, query):
    _json_error(user.api("GET", "/api/metrics", params=query))


@pytest.mark.parametrize("query", [
    {"status": "failed\x00"}, {"object": "page\x00x"}, {"field": "\x00"},
    {"since": "2025-01-01T00:00:00+23:00"}, {"until": "2025-01-01T00:00:00-16:00"},
    {"limit": "١٠"}, {"limit": "99999999999999999999999"},
])
def test_event_filters_with_nul_bytes_odd_zones_or_digits_are_400(user, query):
    _json_error(user.api("GET", "/api/webhook-events", params=query))


@pytest.mark.parametrize("query", [{"platform": "instagram\x00"}, {"kind": "\x00"}])
def test_inbox_filters_with_nul_bytes_are_400(user, query):
    _json_error(user.api("GET", "/api/interactions", params=query))


def test_cursor_with_an_id_beyond_bigint_is_400(user):
    import base64
    cursor = base64.urlsafe_b64encode(f"2025-01-01T00:00:00+00:00|{'9' * 25}".encode()).decode().rstrip("=")
    _json_error(user.api("GET", "/api/webhook-events", params={"before": cursor}))
    cursor = base64.urlsafe_b64encode("2025-01-01T00:00:00+20:00|5".encode()).decode().rstrip("=")
    _json_error(user.api("GET", "/api/webhook-events", params={"before": cursor}))


@pytest.mark.parametrize("body", [[1, 2], "text", 12, None, {"status": ["failed"]}, {"since": {"a": 1}}])
def test_retry_with_json_of_the_wrong_shape_is_400(user, body):
    _json_error(user.api("POST", "/api/webhook-events/retry", data=json.dumps(body),
                         headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize("email", ["owner\x00@example.com", "\x00"])
def test_nul_bytes_in_emails_are_400(server, email):
    for path in ("/auth/login", "/auth/register"):
        browser = Browser(server.url)
        response = browser.post_form(path, {"email": email, "password": "correct horse"})
        assert response.status_code == 400, (path, response.status_code)
        assert "email" in response.text.lower()


def test_login_json_of_the_wrong_shape_is_400(server):
    browser = Browser(server.url)
    response = browser.api("POST", "/auth/login", data="[1]", headers={"Content-Type": "application/json"})
    _json_error(response)


def _raw(server_url: str, request: bytes) -> bytes:
    host, port = server_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("framing", [b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"])
def test_broken_chunked_framing_on_the_receiver_is_400(server, sql, framing):
    answer = _raw(server.url, b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"X-Hub-Signature-256: " + sign(b"{}").encode() + b"\r\n"
                              b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + framing)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", answer[:300]
    assert sql("SELECT count(*) FROM webhook_events")[0][0] == 0


# ---- every route of the app, parameters and bodies drawn by hypothesis ----------------------------

PARAM_NAMES = ["before", "limit", "since", "until", "status", "object", "field", "platform", "kind", "days",
               "state", "code", "error", "error_description", "next", "force", "email", "password"]
nasty = st.sampled_from(UNICODE_DIGITS + HUGE + ["\x00", "a\x00b", "2025-01-01T00:00:00+23:00", "2025-13-45",
                                                 "9999-12-31T23:59:59-15:59", "0001-01-01T00:00:00+15:00",
                                                 "%00", "\u202e", "null", "x" * 5000, "a\r\nb"])
nasty_text = st.one_of(nasty, nasty.map(lambda v: "1" + v), st.text(max_size=40), st.integers().map(str))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.sampled_from(PARAM_NAMES) | st.text(max_size=8), inner, max_size=4),
                           max_leaves=8)


def _routes():
    """Every route and method of the app, found in its url_map (routes added later are covered too)."""
    from webhook_app import create_app
    from webhook_app.config import Settings

    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", secret_key="x",
                              meta_app_secret="x", token_encryption_keys=(b"k" * 32,)))
    return sorted((rule.rule, method, rule.endpoint) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
query_strings = st.fixed_dictionaries({}, optional={name: nasty_text for name in PARAM_NAMES})


@pytest.mark.slow
@pytest.mark.parametrize("route", _routes(), ids=lambda r: f"{r[1]} {r[0]}")
def test_no_route_answers_500_to_any_parameters_or_body(server, user, sql, route):
    rule, method, endpoint = route

    @hsettings(max_examples=25, deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data):
        path = _ARG.sub(lambda m: quote(data.draw(nasty_text | st.sampled_from(["1", "instagram-1"]),
                                                  label=m.group(1)), safe=""), rule)
        query = data.draw(query_strings, label="query")
        body = data.draw(st.none() | json_values, label="json")
        kwargs = {"params": query}
        if method != "GET":
            if data.draw(st.booleans(), label="as form") and isinstance(body, dict):
                kwargs["data"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
            elif body is not None:
                kwargs["data"] = json.dumps(body)
                kwargs["headers"] = {"Content-Type": "application/json"}
        # stream=True: the live stream (/api/stream) answers 200 and never ends; only its status is read.
        with user.api(method, path, stream=True, **kwargs) as response:
            assert response.status_code < 500 or response.status_code == 502, \
                (method, path, kwargs, response.status_code, response.text[:300])
        if endpoint == "auth.logout" or not user.get("/auth/status").json()["authenticated"]:
            sql("DELETE FROM rate_limit_counters")  # the route may have used up the login limit
            AuthActions(user).login()

    check()
