"""Webhook intake over real HTTP (SPEC 7): handshake, signatures, envelopes, limits, duplicates."""
import json

import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.support.webhooks import SECRET, add_owner, deliver, ig_messages, sign

PATHS = ("/webhook", "/webhooks/whatsapp")


def stored(sql):
    return sql("SELECT (SELECT count(*) FROM webhook_deliveries), (SELECT count(*) FROM webhook_events)")[0]


def post(server, body: bytes, headers: dict, path: str = "/webhook"):
    return requests.post(server.url + path, data=body, headers=headers, timeout=15)


def test_handshake_echoes_challenge_and_marks_verified(server, sql):
    for path in PATHS:
        ok = requests.get(server.url + path, params={"hub.mode": "subscribe", "hub.verify_token": "test-verify-token",
                                                     "hub.challenge": "1158201444"}, timeout=5)
        assert ok.status_code == 200 and ok.text == "1158201444"
    assert sql("SELECT verified_at IS NOT NULL FROM webhook_health WHERE user_id IS NULL") == [(True,)]


def test_handshake_refuses_wrong_token_or_mode(server, sql):
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "x"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "x"},
                   {"hub.challenge": "x"}):
        response = requests.get(server.url + "/webhook", params=params, timeout=5)
        assert response.status_code == 403 and "x" not in response.text
    assert sql("SELECT count(*) FROM webhook_health WHERE verified_at IS NOT NULL") == [(0,)]


def test_valid_signature_is_stored_before_200_on_both_paths(server, sql):
    for n, path in enumerate(PATHS):
        response = deliver(server.url, ig_messages("ig-1", [f"mid-{n}"]), path=path)
        assert response.status_code == 200
    assert stored(sql) == (2, 2)
    assert sql("SELECT status, object, field, entry_id FROM webhook_events ORDER BY id") == [
        ("pending", "instagram", "messaging", "ig-1")] * 2


def test_bad_signatures_are_401_and_store_nothing(server, sql):
    body = json.dumps(ig_messages("ig-1", ["m"])).encode()
    good = sign(body)
    cases = {
        "missing": {},
        "malformed": {"X-Hub-Signature-256": "sha256=not-hex"},
        "no prefix": {"X-Hub-Signature-256": good.split("=", 1)[1]},
        "truncated": {"X-Hub-Signature-256": good[:-2]},
        "wrong secret": {"X-Hub-Signature-256": sign(body, "another-secret")},
        "sha1 only": {"X-Hub-Signature": "sha1=" + "0" * 40},
        "sha1 in the sha256 header": {"X-Hub-Signature-256": "sha1=" + "0" * 40},
    }
    for name, headers in cases.items():
        response = post(server, body, {"Content-Type": "application/json", **headers})
        assert response.status_code == 401, name
    changed = bytearray(body)
    changed[10] ^= 0x01  # one bit of one byte
    assert post(server, bytes(changed), {"X-Hub-Signature-256": good}).status_code == 401
    assert stored(sql) == (0, 0)


def test_unicode_body_is_signed_over_its_raw_bytes(server, sql):
    raw = '{"object":"instagram","entry":[{"id":"ig-1","messaging":[{"message":{"mid":"u1","text":"h\u00e9llo \U0001f600 \u65e5\u672c"}}]}]}'.encode()
    # Meta escapes non-ASCII as \\uXXXX; a body re-serialised before checking would not match.
    escaped = json.dumps(json.loads(raw)).encode()
    assert escaped != raw
    assert post(server, raw, {"X-Hub-Signature-256": sign(escaped)}).status_code == 401
    assert post(server, raw, {"X-Hub-Signature-256": sign(raw)}).status_code == 200
    assert sql("SELECT payload->'messaging'->0->'message'->>'text' FROM webhook_events") == [("h\u00e9llo \U0001f600 \u65e5\u672c",)]


def test_signed_but_not_an_envelope_is_400_and_stores_nothing(server, sql):
    for body in (b"not json", b"\xff\xfe", b"[]", b'{"entry": []}', b'{"object": "page"}',
                 b'{"object": "page", "entry": {}}', b'{"object": "page", "entry": [1]}',
                 b'{"object": "page", "entry": [{"id": NaN}]}', b'{"object": "page", "entry": [{"id": "\\u0000"}]}',
                 b'{"object": "pa\\u0000ge", "entry": []}', b'{"object": "page\\n", "entry": []}',
                 b'{"object": "", "entry": []}', b'{"object": "p\xc3\xa9ge", "entry": []}',
                 # deeper than Python's parser goes and than PostgreSQL's stack allows: 400, not 500 or 503
                 b'{"object": "page", "entry": [{"id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}]}"):
        response = post(server, body, {"X-Hub-Signature-256": sign(body)})
        assert response.status_code == 400, body
    assert stored(sql) == (0, 0)


def test_body_over_5_mib_is_413(server, sql):
    body = b'{"object":"page","entry":[{"id":"' + b"x" * (5 * 1024 * 1024) + b'"}]}'
    response = post(server, body, {"X-Hub-Signature-256": sign(body)})
    assert response.status_code == 413
    assert stored(sql) == (0, 0)


def test_same_bytes_again_store_nothing_new_and_are_counted(server, sql):
    payload = ig_messages("ig-1", ["a", "b", "c"])
    for _ in range(3):
        assert deliver(server.url, payload).status_code == 200
    assert stored(sql) == (1, 3)
    assert sql("SELECT duplicate_count FROM webhook_deliveries") == [(2,)]


def test_owner_resolved_and_unknown_ids_kept_and_counted(server, sql):
    owner = add_owner(sql, "owner@example.com", "ig-owned")
    payload = {"object": "instagram", "entry": ig_messages("ig-owned", ["m1"])["entry"]
               + ig_messages("ig-stranger", ["m2", "m3"])["entry"]}
    assert deliver(server.url, payload).status_code == 200
    assert sql("SELECT entry_id, user_id FROM webhook_events ORDER BY entry_index") == [
        ("ig-owned", owner), ("ig-stranger", None), ("ig-stranger", None)]
    # Nothing counts them on a shared row (SPEC 18): the unknown owner is the event's own NULL.
    assert sql("SELECT count(*) FROM webhook_health") == [(0,)]


def test_receiver_needs_no_csrf_token_or_session(server, sql):
    session = requests.Session()
    response = deliver(server.url, ig_messages("ig-1", ["m"]), session=session)
    assert response.status_code == 200
    assert "insta_session" not in response.cookies
    assert sql("SELECT count(*) FROM sessions") == [(0,)]


_header_names = st.sampled_from(["X-Hub-Signature-256", "X-Hub-Signature", "x-hub-signature-256", "Content-Type"])
_header_values = st.one_of(
    # requests refuses to send a value with leading whitespace, so none is generated.
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.lstrip),
    st.builds(lambda h: "sha256=" + h, st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=70)),
)
_bodies = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12)),
    st.builds(lambda obj, entries: json.dumps({"object": obj, "entry": entries}).encode(),
              st.text(max_size=10), st.lists(st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
                                             max_size=3)),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.dictionaries(_header_names, _header_values, max_size=3), body=_bodies, sign_it=st.booleans())
def test_property_never_200_unsigned_never_500(server, headers, body, sign_it):
    if sign_it:
        headers = {**headers, "X-Hub-Signature-256": sign(body, SECRET)}
    response = post(server, body, headers)
    assert response.status_code < 500
    signature = {k.lower(): v for k, v in headers.items()}.get("x-hub-signature-256", "")
    if response.status_code == 200:
        assert signature.strip().lower() == sign(body, SECRET)


def test_concurrent_deliveries_are_each_stored_once_and_repeats_counted(server, sql):
    """Deliveries arriving together share a commit (group commit); each still answers for itself."""
    from concurrent.futures import ThreadPoolExecutor

    payloads = [ig_messages("ig-1", [f"c-{n}"]) for n in range(24)]
    repeated = ig_messages("ig-1", ["same-bytes"])
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda p: deliver(server.url, p).status_code, payloads + [repeated] * 4))
    assert statuses == [200] * 28
    assert stored(sql) == (25, 25)
    assert sql("SELECT duplicate_count FROM webhook_deliveries WHERE duplicate_count > 0") == [(3,)]
