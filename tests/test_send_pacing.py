"""The pace holds under a burst from two sender processes (SPEC 16): 80 replies queued to one WhatsApp number,
two `jobs.send_messages` processes sharing its 40/s pace in PostgreSQL, and the sandbox (limit 40/s, a quarter of a
second's worth at once: what a shared machine's scheduling jitter takes) never answers 130429. Unshared, the two
would send at 80/s and be refused."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.support.live import ROOT, app_env
from tests.support.replies import connect_everything, conversation_of, customer_writes
from webhook_app.sandbox import messaging as sandbox_messaging
from webhook_app.sandbox import sandbox_env

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

MESSAGES, PER_SECOND, BURST_SECONDS = 80, 40, 0.25


def test_two_senders_share_the_numbers_pace(auth, browser, sandbox, settings, sql, tmp_path):
    connect_everything(auth, browser, sandbox)
    customer_writes(sandbox, settings, "whatsapp_message", "Send me the menu, please")
    conv = conversation_of(browser, "whatsapp")
    world = sandbox_messaging.world(sandbox.state)
    world.set_pace(PER_SECOND, burst_seconds=BURST_SECONDS)
    world.set_statuses(enabled=False)
    for n in range(MESSAGES):
        assert browser.api("POST", f"/api/conversations/{conv['id']}/messages",
                           json={"text": f"Line {n}"}).status_code == 202

    env = app_env(settings, **sandbox_env(sandbox.url), WHATSAPP_MESSAGES_PER_SECOND=str(PER_SECOND))
    started = time.monotonic()
    senders = [subprocess.Popen([sys.executable, "-m", "jobs.send_messages", "--follow", "--workers", "2"], cwd=ROOT,
                                env=env, stdout=open(tmp_path / f"sender{n}.log", "w"), stderr=subprocess.STDOUT)
               for n in range(2)]
    try:
        deadline = time.monotonic() + 60
        while sql("SELECT count(*) FROM outbound_messages WHERE status = 'sent'")[0][0] < MESSAGES:
            assert time.monotonic() < deadline, sql("SELECT status, count(*) FROM outbound_messages GROUP BY 1")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        for sender in senders:
            sender.send_signal(signal.SIGTERM)
        for sender in senders:
            assert sender.wait(timeout=30) == 0
    assert world.refused.get("130429", 0) == 0, world.refused
    assert sql("SELECT max(attempts) FROM outbound_messages") == [(1,)]
    sent = {s["body"]["biz_opaque_callback_data"] for s in world.find_sends(limit=MESSAGES + 10)}
    assert len(sent) == MESSAGES and all(world.counts[s] == 1 for s in sent)
    # Both processes sent (each logs its calls): the pace was shared, not one sender doing everything.
    calls = [(tmp_path / f"sender{n}.log").read_text().count("/messages 200") for n in range(2)]
    assert sum(calls) == MESSAGES and min(calls) > 0, calls
    # 80 sends at 40/s cannot take less than (80 - the 10 the sandbox takes at once) / 40 seconds.
    assert elapsed >= (MESSAGES - PER_SECOND * BURST_SECONDS) / PER_SECOND
