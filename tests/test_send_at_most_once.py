"""At most once, over real processes (SPEC 16): a sender killed with SIGKILL while Meta holds its call open leaves
the message `unknown`, never sent a second time by the next sender; the status webhook carrying our id resolves it,
or the user does. And a status webhook that arrives before the send call returns finds its message."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.live import ROOT, app_env
from tests.support.replies import connect_everything, conversation_of, customer_writes, send_now, until_status
from webhook_app.sandbox import messaging as sandbox_messaging
from webhook_app.sandbox import sandbox_env
from webhook_app.webhooks.processor import Processor

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def _sender(settings, sandbox, tmp_path, name: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "jobs.send_messages", "--follow", "--workers", "1"], cwd=ROOT,
                            env=app_env(settings, **sandbox_env(sandbox.url), SENDER_LEASE_SECONDS="2"),
                            stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _status(sql, outbound_id: int) -> str:
    return sql("SELECT status FROM outbound_messages WHERE id = %s", (outbound_id,))[0][0]


@pytest.fixture
def conversation(auth, browser, sandbox, settings):
    connect_everything(auth, browser, sandbox)
    customer_writes(sandbox, settings, "whatsapp_message", "Can I still change my order?")
    return conversation_of(browser, "whatsapp")


def _kill_during_the_call(browser, sandbox, settings, sql, tmp_path, conversation, *, accept: bool):
    world = sandbox_messaging.world(sandbox.state)
    world.set_hold(accept=accept)
    world.set_statuses(before_answer=True)   # a released call posts its statuses, then answers a dead socket
    first = _sender(settings, sandbox, tmp_path, "first")
    try:
        reply = browser.api("POST", f"/api/conversations/{conversation['id']}/messages",
                            json={"text": "Yes, until noon."}).json()["message"]
        _wait(lambda: world.holding == 1 and _status(sql, reply["id"]) == "sending", what="the call held open")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    second = _sender(settings, sandbox, tmp_path, "second")
    try:
        _wait(lambda: _status(sql, reply["id"]) == "unknown", what="the dead sender's message to become unknown")
        shown = browser.api("GET", f"/api/conversations/{conversation['id']}").json()["messages"][-1]
        assert shown["status"] == "unknown" and shown["outbound"]["error"]["title"] == "Sender stopped during the call"
        # The second sender polls and is woken; it never calls Meta for an unknown message.
        time.sleep(1.5)
        assert len(world.find_sends(outbound_id=str(reply["id"]))) == 1
        return reply, world, second
    except BaseException:
        second.kill()
        raise


def test_sigkill_during_the_call_leaves_unknown_and_the_status_webhook_resolves_it(
        browser, sandbox, settings, sql, tmp_path, conversation):
    reply, world, second = _kill_during_the_call(browser, sandbox, settings, sql, tmp_path, conversation, accept=True)
    try:
        world.release()   # Meta goes on with the held call: it sends the message and its statuses
        _wait(lambda: world.counts.get(str(reply["id"])) == 1, what="the held call accepted")
        until_status(settings, sql, reply["id"], "read")
        assert world.counts[str(reply["id"])] == 1 and len(world.find_sends(outbound_id=str(reply["id"]))) == 1
        shown = browser.api("GET", f"/api/conversations/{conversation['id']}").json()["messages"][-1]
        assert shown["status"] == "read" and shown["external_id"].startswith("wamid.")
        # Resolving is only for unknown messages.
        late = browser.api("POST", f"/api/outbound/{reply['id']}/resolve", json={"outcome": "not_sent"})
        assert (late.status_code, late.json()["reason"]) == (409, "not_unknown")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0


def test_the_user_says_not_sent_and_it_is_sent_again_once(browser, sandbox, settings, sql, tmp_path, conversation):
    reply, world, second = _kill_during_the_call(browser, sandbox, settings, sql, tmp_path, conversation, accept=False)
    try:
        world.release()   # the held call is dropped: Meta never had it, no status comes
        world.set_statuses(before_answer=False)
        assert world.counts.get(str(reply["id"])) is None
        resolved = browser.api("POST", f"/api/outbound/{reply['id']}/resolve", json={"outcome": "not_sent"})
        assert resolved.status_code == 200 and resolved.json()["message"]["status"] == "queued"
        _wait(lambda: world.counts.get(str(reply["id"])) == 1, what="the running sender to send it again")
        until_status(settings, sql, reply["id"], "read")
        assert sql("SELECT attempts FROM outbound_messages WHERE id = %s", (reply["id"],)) == [(2,)]
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0


def test_status_webhooks_before_the_send_call_returns(browser, sandbox, settings, sql, conversation):
    """The sandbox posts Meta's statuses (WhatsApp) and echo (Messenger) and waits for the app to store them before
    it answers the send call; a processor in follow mode handles them at once, so they meet a reply still
    `sending`. Whichever comes first, each reply is found by our id and ends `read`, in one row, sent once."""
    world = sandbox_messaging.world(sandbox.state)
    world.set_statuses(before_answer=True)
    customer_writes(sandbox, settings, "messenger_message", "Open on Sunday?")
    chats = {"whatsapp": conversation, "messenger": conversation_of(browser, "messenger")}
    processor = Processor(settings, workers=1, poll_interval=0.2)
    follow = threading.Thread(target=processor.run_follow, daemon=True)
    follow.start()
    try:
        replies = [(channel, browser.api("POST", f"/api/conversations/{c['id']}/messages",
                                         json={"text": f"Hello {n} from {channel}"}).json()["message"])
                   for n in range(3) for channel, c in chats.items()]
        assert send_now(settings).sent == len(replies)
        for channel, reply in replies:
            until_status(settings, sql, reply["id"], "read")
            assert world.counts[str(reply["id"])] == 1
        for channel, c in chats.items():
            assert sql("SELECT count(*) FROM messages WHERE conversation_id = %s AND direction = 'outbound'",
                       (c["id"],)) == [(3,)]
    finally:
        processor.stop_requested.set()
        follow.join(timeout=30)
        processor.close()
