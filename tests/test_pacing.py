"""Send pacing shared through PostgreSQL (webhook_app/pacing): slots per key, across real processes."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.support.live import ROOT
from webhook_app import pacing

T0 = 1_900_000_000.0   # a fixed clock for the exact cases


def test_a_fresh_key_sends_now_and_then_one_slot_per_interval(db):
    waits = [pacing.reserve(db, "whatsapp:1", 80, now=T0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0125, 0.025, 0.0375, 0.05])
    # Another key has its own slots.
    assert pacing.reserve(db, "instagram:1", 100, now=T0) == 0.0


def test_a_key_left_idle_starts_again_from_now_without_a_saved_up_burst(db):
    for _ in range(10):
        pacing.reserve(db, "whatsapp:2", 10, now=T0)          # booked up to T0 + 1 s
    assert pacing.reserve(db, "whatsapp:2", 10, now=T0 + 0.5) == pytest.approx(0.5)
    # Ten seconds later the slots of the past are gone: one now, the next a tenth of a second on.
    assert pacing.reserve(db, "whatsapp:2", 10, now=T0 + 10) == 0.0
    assert pacing.reserve(db, "whatsapp:2", 10, now=T0 + 10) == pytest.approx(0.1)


def test_slow_down_pushes_the_next_slot_out_and_never_brings_it_closer(db):
    assert pacing.reserve(db, "whatsapp:3", 80) == 0.0
    assert pacing.slow_down(db, "whatsapp:3", 2.0) == pytest.approx(2.0, abs=0.05)
    assert pacing.reserve(db, "whatsapp:3", 80) == pytest.approx(2.0, abs=0.05)
    assert pacing.slow_down(db, "whatsapp:3", 0.5) == pytest.approx(2.0125, abs=0.05)
    assert pacing.slow_down(db, "whatsapp:new", 1.0) == pytest.approx(1.0, abs=0.05)


def test_a_rate_of_zero_is_refused(db):
    with pytest.raises(ValueError):
        pacing.reserve(db, "whatsapp:4", 0)


BURST = """
import json, sys, time
from webhook_app import pacing
from webhook_app.db import Database
url, key, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
db = Database(url, maxconn=2, application_name="pacing-test")
sent, end = [], time.time() + seconds
while time.time() < end:
    pacing.wait_for_slot(db, key, rate)
    sent.append(time.time())
print(json.dumps(sent))
"""


@pytest.mark.slow
def test_two_processes_bursting_on_one_key_never_exceed_the_rate_together(database_url):
    rate, seconds = 40.0, 3.0
    procs = [subprocess.Popen([sys.executable, "-c", BURST, database_url, "whatsapp:burst", str(rate), str(seconds)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    each = [json.loads(out) for out in outputs]
    assert all(len(times) > rate for times in each), "both processes got slots"
    sent = sorted(t for times in each for t in times)
    # Together they sent at the rate, not twice it, and not much below it either.
    span = sent[-1] - sent[0]
    assert span > seconds * 0.9
    assert rate * span * 0.8 <= len(sent) - 1 <= rate * span + 1
    # No second holds more than `rate` sends: the send `rate` places later is a second on (less the time a
    # process takes to wake from its sleep and note the clock, a few milliseconds on a busy machine).
    closest = min(sent[i + int(rate)] - sent[i] for i in range(len(sent) - int(rate)))
    assert closest > 0.95, f"{int(rate) + 1} sends within {closest:.3f} s"


SEND = """
import json, sys, time
import requests
from webhook_app import pacing
from webhook_app.db import Database
url, sandbox, phone, token, rate, seconds, paced = sys.argv[1:8]
db = Database(url, maxconn=2, application_name="pacing-test")
http = requests.Session()
codes, end = [], time.time() + float(seconds)
while time.time() < end:
    if paced == "1":
        pacing.wait_for_slot(db, "whatsapp:" + phone, float(rate))
    answer = http.post(f"{sandbox}/graph/v26.0/{phone}/messages", timeout=10, headers={
        "Authorization": "Bearer " + token}, json={"messaging_product": "whatsapp", "to": "16505551234",
                                                   "type": "text", "text": {"body": "paced"}})
    codes.append(answer.status_code)
print(json.dumps(codes))
"""


def _senders(database_url, sandbox, phone, token, rate, seconds, paced, count=2):
    procs = [subprocess.Popen([sys.executable, "-c", SEND, database_url, sandbox.url, phone, token, str(rate),
                               str(seconds), "1" if paced else "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(count)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * count
    return [code for out in outputs for code in json.loads(out)]


@pytest.mark.slow
def test_two_paced_processes_sending_to_the_sandbox_never_hit_its_limit(database_url, sandbox):
    """The sandbox allows 40/s per number with almost no burst (2 at once); two processes share one pace."""
    from webhook_app.sandbox import messaging

    state = sandbox.state
    user = state.default_meta_user()
    phone = state.wabas[user.waba_ids[0]].phone_numbers[0]["id"]
    token = state.issue_token("user_long", user.id, ["whatsapp_business_messaging"], lifetime=3600).value
    world = messaging.world(state)
    world.set_statuses(enabled=False)
    world.set_pace(40, phone, burst_seconds=0.05)

    codes = _senders(database_url, sandbox, phone, token, 40, 3.0, paced=True)
    assert codes and set(codes) == {200}, f"{codes.count(429)} answered 130429"
    received = sorted(s["received_at"] for s in world.find_sends(account=phone, limit=10_000))
    span = received[-1] - received[0]
    assert len(received) - 1 <= 40 * span + 2 and len(received) >= 40 * span * 0.8

    # The same two processes without the shared pace, as fast as they can: the sandbox refuses what goes
    # beyond 40 a second (so the check above could fail).
    world.reset()
    world.set_statuses(enabled=False)
    world.set_pace(40, phone, burst_seconds=0.05)
    started = time.monotonic()
    unpaced = _senders(database_url, sandbox, phone, token, 40, 1.5, paced=False)
    seconds = time.monotonic() - started
    assert unpaced.count(429) > 0 and unpaced.count(200) <= 40 * seconds + 2
