"""Test helpers for replies (SPEC 16): a user with every account connected in the sandbox, conversations made by
the sandbox's own sample webhooks, and the sender run in the test process."""
from __future__ import annotations

import time

from tests.support.inbox import drain
from tests.support.live import consent
from webhook_app.outbound.sender import Sender
from webhook_app.sandbox import samples


def connect_everything(auth, browser, sandbox) -> None:
    """Register, connect Facebook (a Page with its Instagram account) and WhatsApp, and sync the templates."""
    assert auth.register().status_code == 302
    assert consent(browser, "/connect/meta").status_code == 302
    assert consent(browser, "/connect/whatsapp").status_code == 302
    synced = browser.api("POST", "/api/templates/sync")
    assert synced.status_code == 200, synced.text


def customer_writes(sandbox, settings, kind: str, text: str | None = None) -> None:
    """The sandbox sends one sample webhook (a customer's message or comment); the processor stores it."""
    sent = samples.send(sandbox.state, kind, text=text)
    assert sent["status"] == 200, sent
    drain(settings)


def conversation_of(browser, channel: str, kind: str = "direct") -> dict:
    listed = browser.api("GET", "/api/conversations", params={"channel": channel, "kind": kind}).json()
    assert len(listed["conversations"]) == 1, listed
    found = browser.api("GET", f"/api/conversations/{listed['conversations'][0]['id']}", params={"limit": 200})
    assert found.status_code == 200, found.text
    return found.json()


def send_now(settings, db=None):
    """Run the sender once in the test process (what `jobs.send_messages --once` does)."""
    sender = Sender(settings, workers=1, db=db)
    try:
        return sender.run_once()
    finally:
        sender.close()


def until_status(settings, sql, outbound_id: int, wanted: str, timeout: float = 20.0) -> None:
    """Process the webhooks the sandbox sends back until the reply reaches `wanted`."""
    deadline = time.monotonic() + timeout
    while True:
        drain(settings)
        status = sql("SELECT status FROM outbound_messages WHERE id = %s", (outbound_id,))[0][0]
        if status == wanted:
            return
        assert time.monotonic() < deadline, f"outbound {outbound_id} stayed {status}, never {wanted}"
        time.sleep(0.05)
