"""The sandbox's send APIs (sandbox/messaging.py) over real HTTP: Meta's shapes and errors, the status
webhooks it sends back signed, and the control API the reply tests use (faults, hold-open, counts, pace)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import TEST_APP_SECRET

V = "v26.0"


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body), body, time.time()))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"EVENT_RECEIVED")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(sandbox):
    """The app's webhook receiver stood in for by a plain HTTP server that keeps what it got."""
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox.state.webhook_url = f"http://127.0.0.1:{server.server_port}/webhook"
    yield _Receiver.received
    server.shutdown()


class World:
    """The default sandbox world's objects and tokens, as the app holds them after connecting."""

    def __init__(self, sandbox):
        self.url, self.state = sandbox.url, sandbox.state
        s = self.state
        user = s.default_meta_user()
        self.waba = s.wabas[user.waba_ids[0]]
        self.phone_id = self.waba.phone_numbers[0]["id"]
        self.user_token = s.issue_token("user_long", user.id, ["whatsapp_business_management",
                                                                 "whatsapp_business_messaging"], lifetime=3600).value
        self.page = s.pages[user.page_ids[0]]
        self.ig_id = self.page.ig_id
        self.page_token = s.issue_token("page", self.page.id, ["pages_messaging"], lifetime=None).value

    def post(self, path: str, body: dict, token: str | None = None, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.user_token}"}
        return requests.post(f"{self.url}/graph/{V}/{path}", json=body, headers=headers, timeout=15, **kw)

    def control(self, path: str, body: dict | None = None) -> dict:
        answer = requests.post(f"{self.url}/_sandbox/api/messaging/{path}", json=body or {}, timeout=15)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def get(self, path: str, **params) -> dict:
        return requests.get(f"{self.url}/_sandbox/api/messaging{path}", params=params, timeout=15).json()

    def wa(self, body: dict, **kw) -> requests.Response:
        return self.post(f"{self.phone_id}/messages", {"messaging_product": "whatsapp", "recipient_type": "individual",
                                                      "to": "4915112345678", **body}, **kw)


@pytest.fixture
def world(sandbox):
    return World(sandbox)


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("waited in vain")


def statuses(received) -> list[dict]:
    return [s for _, payload, _, _ in received for e in payload["entry"] for c in e.get("changes", [])
            for s in c["value"].get("statuses", [])]


def messaging_items(received) -> list[dict]:
    return [m for _, payload, _, _ in received for e in payload["entry"] for m in e.get("messaging", [])]


# ---- WhatsApp ------------------------------------------------------------------------------------

def test_whatsapp_text_is_accepted_then_sent_delivered_read_arrive_signed(world, receiver):
    answer = world.wa({"type": "text", "text": {"preview_url": False, "body": "Your order is ready"},
                       "biz_opaque_callback_data": "outbound-17"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "4915112345678", "wa_id": "4915112345678"}]
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.") and "message_status" not in body["messages"][0]

    wait_for(lambda: len(statuses(receiver)) == 3)
    got = statuses(receiver)
    assert [s["status"] for s in got] == ["sent", "delivered", "read"]
    assert {s["id"] for s in got} == {wamid}
    assert {s["biz_opaque_callback_data"] for s in got} == {"outbound-17"}
    assert all(s["recipient_id"] == "4915112345678" and s["timestamp"].isdigit() for s in got)
    # Meta: pricing with sent and delivered; no conversation object from v24.0 on.
    assert got[0]["pricing"] == {"billable": False, "pricing_model": "PMP", "type": "regular", "category": "service"}
    assert "pricing" not in got[2] and not any("conversation" in s for s in got)
    for headers, payload, raw, _ in receiver:
        expected = "sha256=" + hmac.new(TEST_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == expected
        assert payload["object"] == "whatsapp_business_account" and payload["entry"][0]["id"] == world.waba.id
        value = payload["entry"][0]["changes"][0]
        assert value["field"] == "messages"
        assert value["value"]["metadata"]["phone_number_id"] == world.phone_id
    assert world.get("/counts/outbound-17") == {"outbound_id": "outbound-17", "count": 1}


def test_whatsapp_before_v24_statuses_carry_the_conversation(world, receiver):
    answer = requests.post(f"{world.url}/graph/v23.0/{world.phone_id}/messages", json={
        "messaging_product": "whatsapp", "to": "16505551234", "type": "text", "text": {"body": "hi"}},
        headers={"Authorization": f"Bearer {world.user_token}"}, timeout=10)
    assert answer.status_code == 200
    wait_for(lambda: len(statuses(receiver)) == 3)
    sent, delivered, read = statuses(receiver)
    assert sent["conversation"]["origin"] == {"type": "service"} and delivered["conversation"]["id"]
    assert "conversation" not in read and "biz_opaque_callback_data" not in sent


@pytest.mark.parametrize("kind", ["image", "video", "audio", "document"])
def test_whatsapp_media_by_link(world, receiver, kind):
    media = {"link": f"https://example.com/file.{kind}"}
    if kind != "audio":
        media["caption"] = "Here it is"
    if kind == "document":
        media["filename"] = "order.pdf"
    answer = world.wa({"type": kind, kind: media, "biz_opaque_callback_data": f"m-{kind}"})
    assert answer.status_code == 200, answer.text
    assert world.get("/sends", outbound_id=f"m-{kind}")["sends"][0]["body"][kind] == media


def _error(answer: requests.Response) -> dict:
    error = answer.json()["error"]
    assert {"message", "type", "code", "fbtrace_id"} <= error.keys()
    return error


def test_whatsapp_refuses_a_bad_body_in_metas_shape(world, receiver):
    missing_link = world.wa({"type": "image", "image": {"caption": "no link"}})
    error = _error(missing_link)
    assert missing_link.status_code == 400 and error["code"] == 131008
    assert error["error_data"]["messaging_product"] == "whatsapp" and "link" in error["error_data"]["details"]
    too_long = world.wa({"type": "text", "text": {"body": "x" * 4097}})
    assert too_long.status_code == 400 and _error(too_long)["code"] == 100
    assert world.wa({"type": "text", "text": {"body": "x" * 4096}}).status_code == 200
    no_text = world.wa({"type": "text", "text": {}})
    assert _error(no_text)["code"] == 131008
    odd = world.wa({"type": "carousel"})
    assert _error(odd)["code"] == 131009
    no_product = world.post(f"{world.phone_id}/messages", {"to": "1", "type": "text", "text": {"body": "x"}})
    assert _error(no_product)["code"] == 100
    assert world.get("")["refused"] == {"131008": 2, "100": 2, "131009": 1}


def test_whatsapp_template_must_exist_be_approved_and_get_its_parameters(world, receiver):
    approved = world.waba.templates[0]            # body "Hello {{1}}, your order {{2}} is ready."
    pending = world.state.seed_templates(world.waba.id, 1, status="PENDING")[0]

    def template(name, params, language="en_US"):
        components = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}] if params else []
        return world.wa({"type": "template", "template": {"name": name, "language": {"code": language},
                                                         "components": components}})

    ok = template(approved["name"], ["Ada", "#1042"])
    assert ok.status_code == 200 and ok.json()["messages"][0]["message_status"] == "accepted"
    wrong_count = template(approved["name"], ["Ada"])
    assert wrong_count.status_code == 400 and _error(wrong_count)["code"] == 132000
    assert "(1)" in _error(wrong_count)["error_data"]["details"]
    assert _error(template(approved["name"], []))["code"] == 132000
    unknown = template("no_such_template", ["a", "b"])
    assert unknown.status_code == 404 and _error(unknown)["code"] == 132001
    assert _error(template(approved["name"], ["a", "b"], language="de_DE"))["code"] == 132001
    assert _error(template(pending["name"], ["a", "b"]))["code"] == 132001
    # A template's statuses are priced in its category.
    wait_for(lambda: len(statuses(receiver)) == 3)
    assert statuses(receiver)[0]["pricing"]["category"] == approved["category"].lower()


def test_whatsapp_tokens_are_checked_as_the_rest_of_the_sandbox(world, receiver):
    bad = world.wa({"type": "text", "text": {"body": "x"}}, token="EAAnot-a-token")
    assert bad.status_code == 400 and _error(bad)["code"] == 190
    world.state.expire_tokens(value=world.user_token)
    expired = world.wa({"type": "text", "text": {"body": "x"}})
    assert _error(expired)["code"] == 190 and _error(expired)["error_subcode"] == 463
    other = world.state.add_meta_user("Someone Else")
    theirs = world.state.issue_token("user_long", other.id, ["whatsapp_business_messaging"], lifetime=3600).value
    foreign = world.wa({"type": "text", "text": {"body": "x"}}, token=theirs)
    assert _error(foreign)["code"] == 100 and _error(foreign)["error_subcode"] == 33
    owner = world.state.default_meta_user()
    no_scope = world.state.issue_token("user_long", owner.id, ["whatsapp_business_management"], lifetime=3600).value
    assert _error(world.wa({"type": "text", "text": {"body": "x"}}, token=no_scope))["code"] == 200
    assert statuses(receiver) == []


def test_whatsapp_pace_limit_answers_130429_above_it(world, receiver):
    world.control("pace", {"per_second": 5, "account": world.phone_id, "burst_seconds": 0})
    answers = [world.wa({"type": "text", "text": {"body": f"n{i}"}}) for i in range(6)]
    codes = [a.status_code for a in answers]
    assert codes[0] == 200 and 429 in codes
    limited = next(a for a in answers if a.status_code == 429)
    assert _error(limited)["code"] == 130429 and _error(limited)["message"] == "(#130429) Rate limit hit"
    time.sleep(0.25)    # a slot frees every 0.2 s at 5/s
    assert world.wa({"type": "text", "text": {"body": "later"}}).status_code == 200
    # The other number of the account has the default 80/s.
    other = world.waba.phone_numbers[1]["id"]
    burst = [world.post(f"{other}/messages", {"messaging_product": "whatsapp", "to": "1", "type": "text",
                                              "text": {"body": "b"}}).status_code for _ in range(6)]
    assert burst == [200] * 6
    assert world.get("")["refused"]["130429"] == codes.count(429)


def test_a_burst_beyond_the_default_80_per_second_is_refused(world, receiver):
    world.control("statuses", {"enabled": False})
    with requests.Session() as http:
        def one(_):
            return http.post(f"{world.url}/graph/{V}/{world.phone_id}/messages", json={
                "messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "b"}},
                headers={"Authorization": f"Bearer {world.user_token}"}, timeout=15).status_code
        from concurrent.futures import ThreadPoolExecutor
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, range(200)))
        seconds = time.monotonic() - started
    accepted = codes.count(200)
    # 8 at once (0.1 s of burst) plus 80 a second while the burst lasted.
    assert accepted <= 8 + 80 * seconds + 1
    assert codes.count(429) == 200 - accepted > 0


def test_faults_for_the_next_sends_of_one_number_then_good_again(world, receiver):
    world.control("faults", {"code": 131047, "times": 2, "account": world.phone_id})
    first, second, third = (world.wa({"type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "f"})
                            for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [400, 400, 200]
    error = _error(first)
    assert error["code"] == 131047 and error["message"] == "(#131047) Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]
    assert world.get("/counts/f")["count"] == 1
    world.control("faults", {"code": 131000})
    transient = world.wa({"type": "text", "text": {"body": "x"}})
    assert transient.status_code == 500 and _error(transient)["is_transient"] is True
    world.control("faults", {"code": 190})
    assert world.wa({"type": "text", "text": {"body": "x"}}).status_code == 401


def test_a_status_stage_fault_is_accepted_then_reported_failed(world, receiver):
    world.control("faults", {"code": 131026, "stage": "status"})
    answer = world.wa({"type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "lost-1"})
    assert answer.status_code == 200
    wait_for(lambda: len(statuses(receiver)) == 2)
    sent, failed = statuses(receiver)
    assert sent["status"] == "sent" and failed["status"] == "failed"
    assert failed["biz_opaque_callback_data"] == "lost-1"
    assert failed["errors"][0]["code"] == 131026 and failed["errors"][0]["title"] == "Message Undeliverable"
    assert failed["errors"][0]["error_data"]["details"]


def test_a_send_held_open_answers_only_when_released(world, receiver):
    world.control("hold", {})
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=world.wa(
        {"type": "text", "text": {"body": "held"}, "biz_opaque_callback_data": "h-1"})))
    thread.start()
    wait_for(lambda: world.get("")["holding"] == 1)
    thread.join(0.3)
    assert thread.is_alive() and world.get("/counts/h-1")["count"] == 0
    assert world.get("/sends", outbound_id="h-1")["sends"][0]["outcome"] == "pending"
    assert world.control("release") == {"released": 1}
    thread.join(10)
    assert result["answer"].status_code == 200 and world.get("/counts/h-1")["count"] == 1
    wait_for(lambda: len(statuses(receiver)) == 3)
    # Released: new sends are no longer held.
    assert world.wa({"type": "text", "text": {"body": "free"}}).status_code == 200


def test_a_hold_for_seconds_ends_by_itself_and_a_dropped_send_is_not_counted(world, receiver):
    world.control("hold", {"seconds": 0.3})
    started = time.monotonic()
    assert world.wa({"type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "s"}).status_code == 200
    assert time.monotonic() - started >= 0.3
    world.control("release")
    world.control("hold", {"seconds": 0.1, "accept": False})
    dropped = world.wa({"type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "d"})
    assert dropped.status_code == 500 and _error(dropped)["code"] == 131000
    assert world.get("/counts") == {"counts": {"s": 1}}
    assert world.get("/sends", outbound_id="d")["sends"][0]["outcome"] == "dropped"


def test_statuses_off_and_statuses_before_the_answer(world, receiver):
    world.control("statuses", {"enabled": False})
    assert world.wa({"type": "text", "text": {"body": "quiet"}}).status_code == 200
    time.sleep(0.3)
    assert receiver == []
    world.control("statuses", {"enabled": True, "before_answer": True})
    answer = world.wa({"type": "text", "text": {"body": "race"}, "biz_opaque_callback_data": "r"})
    # Every status webhook had been answered by the receiver before the send call answered.
    assert [s["status"] for s in statuses(receiver)] == ["sent", "delivered", "read"]
    assert statuses(receiver)[0]["id"] == answer.json()["messages"][0]["id"]
    assert max(t for *_, t in receiver) <= world.get("/sends", outbound_id="r")["sends"][0]["answered_at"]


def test_status_delay_is_settable(world, receiver):
    world.control("statuses", {"delay_ms": 300})
    started = time.time()
    world.wa({"type": "text", "text": {"body": "slow"}})
    wait_for(lambda: len(statuses(receiver)) == 3)
    times = sorted(t for *_, t in receiver)
    assert times[0] - started >= 0.29 and times[-1] - times[0] >= 0.59


def test_the_sends_list_and_counts(world, receiver):
    world.control("statuses", {"enabled": False})
    for i in range(3):
        world.wa({"type": "text", "text": {"body": f"m{i}"}, "biz_opaque_callback_data": "same"})
    world.wa({"type": "text", "text": {"body": "other"}, "biz_opaque_callback_data": "other"})
    world.wa({"type": "text", "text": {}, "biz_opaque_callback_data": "refused"})
    assert world.get("/counts") == {"counts": {"same": 3, "other": 1}}
    sends = world.get("/sends")["sends"]
    assert [s["outcome"] for s in sends] == ["accepted"] * 4 + ["error"]
    assert sends[-1]["error_code"] == 131008 and sends[0]["body"]["text"] == {"body": "m0"}
    assert sends[0]["channel"] == "whatsapp" and sends[0]["account"] == world.phone_id
    assert [s["n"] for s in world.get("/sends", after=sends[2]["n"])["sends"]] == [s["n"] for s in sends[3:]]
    assert len(world.get("/sends", limit=2)["sends"]) == 2
    assert requests.get(f"{world.url}/_sandbox/api/messaging/sends", params={"limit": "x"}).status_code == 400
    world.control("reset")
    assert world.get("/counts") == {"counts": {}} and world.get("")["sends"] == 0


# ---- Messenger, Instagram, comments ----------------------------------------------------------------

def test_messenger_send_then_echo_delivery_and_read(world, receiver):
    answer = world.post(f"{world.page.id}/messages", {"messaging_type": "RESPONSE",
                                                      "recipient": {"id": "7219584610372918"},
                                                      "message": {"text": "We deliver!", "metadata": "out-5"}},
                        token=world.page_token)
    assert answer.status_code == 200
    body = answer.json()
    assert body["recipient_id"] == "7219584610372918" and body["message_id"]
    wait_for(lambda: len(messaging_items(receiver)) == 3)
    echo, delivery, read = messaging_items(receiver)
    assert echo["message"]["is_echo"] is True and echo["message"]["mid"] == body["message_id"]
    assert echo["message"]["metadata"] == "out-5" and echo["message"]["text"] == "We deliver!"
    assert echo["sender"]["id"] == world.page.id and echo["recipient"]["id"] == "7219584610372918"
    assert delivery["delivery"]["mids"] == [body["message_id"]] and delivery["delivery"]["watermark"]
    assert read["read"]["watermark"] >= delivery["delivery"]["watermark"] - 1
    assert {p["object"] for _, p, _, _ in receiver} == {"page"}
    assert world.get("/counts/out-5")["count"] == 1


def test_messenger_refusals(world, receiver):
    def send(body, token=None):
        return world.post(f"{world.page.id}/messages", body, token=token or world.page_token)

    user_token = send({"recipient": {"id": "1"}, "message": {"text": "x"}}, token=world.user_token)
    assert user_token.status_code == 403 and _error(user_token)["code"] == 210
    assert _error(send({"messaging_type": "SPAM", "recipient": {"id": "1"}, "message": {"text": "x"}}))["code"] == 100
    assert _error(send({"recipient": {"id": "1"}, "message": {"text": "x" * 2001}}))["code"] == 100
    assert send({"recipient": {"id": "1"}, "message": {"text": "x" * 2000}}).status_code == 200
    assert _error(send({"message": {"text": "x"}}))["code"] == 100
    assert _error(send({"recipient": {"id": "1"}, "message": {}}))["code"] == 100
    assert _error(send({"recipient": {"id": "1"}, "message": {"attachment": {"type": "sticker"}}}))["code"] == 100
    good = send({"recipient": {"id": "1"}, "message": {"attachment": {
        "type": "image", "payload": {"url": "https://example.com/a.png", "is_reusable": True}}}})
    assert good.status_code == 200
    world.control("faults", {"code": 131047, "channel": "messenger"})
    window = send({"recipient": {"id": "1"}, "message": {"text": "late"}})
    assert _error(window)["code"] == 10 and _error(window)["error_subcode"] == 2018278


def test_instagram_send_with_the_pages_token_then_echo_and_seen(world, receiver):
    answer = world.post(f"{world.ig_id}/messages", {"recipient": {"id": "1254459154682919"},
                                                    "message": {"text": "Yes, in blue too", "metadata": "ig-1"}},
                        token=world.page_token)
    assert answer.status_code == 200
    mid = answer.json()["message_id"]
    wait_for(lambda: len(messaging_items(receiver)) == 2)
    echo, seen = messaging_items(receiver)
    assert echo["message"]["is_echo"] and echo["message"]["mid"] == mid
    assert seen["read"] == {"mid": mid} and seen["recipient"]["id"] == world.ig_id
    assert receiver[0][1]["object"] == "instagram" and receiver[0][1]["entry"][0]["id"] == world.ig_id
    long_text = world.post(f"{world.ig_id}/messages", {"recipient": {"id": "1"}, "message": {"text": "x" * 1001}},
                           token=world.page_token)
    assert _error(long_text)["code"] == 100
    other_page = world.state.issue_token("page", world.state.default_meta_user().page_ids[1], [], lifetime=None)
    assert _error(world.post(f"{world.ig_id}/messages", {"recipient": {"id": "1"}, "message": {"text": "x"}},
                             token=other_page.value))["code"] == 230


def test_private_replies_to_a_comment(world, receiver):
    fb = world.post(f"{world.page.id}/messages", {"recipient": {"comment_id": "123_456"},
                                                  "message": {"text": "Check your inbox"}}, token=world.page_token)
    ig = world.post(f"{world.ig_id}/messages", {"recipient": {"comment_id": "17900000000000001"},
                                                "message": {"text": "Sent you the details"}}, token=world.page_token)
    assert fb.status_code == 200 and ig.status_code == 200
    assert fb.json()["recipient_id"] and ig.json()["message_id"]
    channels = [s["channel"] for s in world.get("/sends")["sends"]]
    assert channels == ["messenger_private_reply", "instagram_private_reply"]


def test_comment_replies_on_instagram_and_facebook(world, receiver):
    ig = world.post("17870913679156914/replies", {"message": "Thank you!"}, token=world.page_token)
    assert ig.status_code == 200 and ig.json()["id"].isdigit()
    fb = world.post("1234_5678/comments", {"message": "See you tomorrow"}, token=world.page_token)
    assert fb.status_code == 200 and fb.json()["id"].startswith("1234_")
    empty = world.post("17870913679156914/replies", {"message": " "}, token=world.page_token)
    assert _error(empty)["code"] == 100
    # Form fields, as the Graph API also takes them.
    form = requests.post(f"{world.url}/graph/{V}/17870913679156914/replies",
                         data={"message": "Form reply", "access_token": world.page_token}, timeout=10)
    assert form.status_code == 200
    sends = world.get("/sends", channel="instagram_comment")["sends"]
    assert [s["body"]["message"] for s in sends] == ["Thank you!", " ", "Form reply"]
    assert _error(world.post("1/replies", {"message": "x"}, token="bad"))["code"] == 190


def test_unknown_objects_and_bad_json(world, receiver):
    unknown = world.post("999/messages", {"recipient": {"id": "1"}, "message": {"text": "x"}})
    assert _error(unknown)["code"] == 100 and _error(unknown)["error_subcode"] == 33
    raw = requests.post(f"{world.url}/graph/{V}/{world.phone_id}/messages", data="[1, 2]",
                        headers={"Authorization": f"Bearer {world.user_token}", "Content-Type": "application/json"},
                        timeout=10)
    assert raw.status_code == 400 and _error(raw)["code"] == 100


# ---- the control API and page --------------------------------------------------------------------

def test_control_api_refuses_bad_values(world):
    for path, body in (("faults", {}), ("faults", {"code": "x"}), ("faults", {"code": 1, "stage": "later"}),
                       ("pace", {"per_second": 0}), ("pace", {}), ("hold", {"seconds": "soon"}),
                       ("statuses", {"delay_ms": "slow"})):
        answer = requests.post(f"{world.url}/_sandbox/api/messaging/{path}", json=body, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"], (path, body)
    summary = world.get("")
    assert summary["per_second"] == {"default": 80.0} and summary["statuses"] == {
        "enabled": True, "delay_ms": 50.0, "before_answer": False}


def test_the_control_page_has_the_send_controls(world):
    page = requests.get(f"{world.url}/_sandbox/", timeout=10)
    assert "Replies (send APIs)" in page.text and 'action="messaging/faults"' in page.text
    posted = requests.post(f"{world.url}/_sandbox/messaging/faults", data={"code": "131026", "times": "3"},
                           allow_redirects=False, timeout=10)
    assert posted.status_code == 303
    assert world.get("")["faults"][0]["code"] == 131026
    follow = requests.get(f"{world.url}{posted.headers['Location']}", timeout=10)
    assert "answer error 131026" in follow.text and "131026" in follow.text


# ---- with the app itself ---------------------------------------------------------------------------

@pytest.mark.sandbox
def test_the_apps_receiver_accepts_the_status_webhooks(server, sandbox):
    w = World(sandbox)
    answer = w.wa({"type": "text", "text": {"body": "to the app"}, "biz_opaque_callback_data": "app-1"})
    assert answer.status_code == 200
    summary = wait_for(lambda: (s := w.get("")) and s["updates_sent"] + s["webhooks_failed"] >= 3 and s)
    assert summary["updates_sent"] == 3 and summary["webhooks_failed"] == 0


def test_instagram_login_send_and_comment_reply_on_graph_instagram_com(world, receiver):
    studio = world.state.add_instagram_account("sandbox.studio")
    token = world.state.issue_token("instagram", studio.id, ["instagram_business_manage_messages"],
                                    lifetime=3600).value
    # Form fields holding JSON, as InstagramClient.send_text posts them.
    answer = requests.post(f"{world.url}/instagram/{V}/me/messages", timeout=10, headers={
        "Authorization": f"Bearer {token}"}, data={"recipient": json.dumps({"id": "232323232"}),
                                                   "message": json.dumps({"text": "Thank you!", "metadata": "igl-1"})})
    assert answer.status_code == 200 and answer.json()["recipient_id"] == "232323232"
    wait_for(lambda: len(messaging_items(receiver)) == 2)
    assert receiver[0][1]["entry"][0]["id"] == studio.id
    assert messaging_items(receiver)[0]["message"]["metadata"] == "igl-1"
    assert world.get("/counts/igl-1")["count"] == 1
    reply = requests.post(f"{world.url}/instagram/{V}/17870913679156914/replies", data={"message": "Thanks!"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert reply.status_code == 200 and reply.json()["id"]
    page_token = requests.post(f"{world.url}/instagram/{V}/17870913679156914/replies", data={"message": "x"},
                               headers={"Authorization": f"Bearer {world.page_token}"}, timeout=10)
    assert page_token.json()["error"]["code"] == 190


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=8)
_fields = st.fixed_dictionaries({}, optional={
    "messaging_product": st.just("whatsapp") | _json, "to": st.just("1") | _json,
    "type": st.sampled_from(["text", "image", "audio", "document", "template", "x"]) | _json,
    "text": _json, "image": _json, "audio": _json, "template": st.fixed_dictionaries({}, optional={
        "name": st.just("sandbox_template_1") | _json, "language": st.just({"code": "en_US"}) | _json,
        "components": st.lists(st.fixed_dictionaries({"type": st.just("body") | _json}, optional={
            "parameters": _json}), max_size=2) | _json}) | _json,
    "recipient": _json, "message": _json, "messaging_type": _json, "biz_opaque_callback_data": _json})


@given(body=_fields | _json)
@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_odd_bodies_get_metas_4xx_never_a_500(world, body):
    world.control("statuses", {"enabled": False})
    for path, token in ((f"{world.phone_id}/messages", world.user_token), (f"{world.page.id}/messages",
                        world.page_token), (f"{world.ig_id}/messages", world.page_token),
                        ("1787/replies", world.page_token), ("1_2/comments", world.page_token)):
        answer = world.post(path, body, token=token)
        assert answer.status_code < 500, (path, body, answer.text)
        if answer.status_code != 200:
            assert answer.json()["error"]["message"], answer.text
