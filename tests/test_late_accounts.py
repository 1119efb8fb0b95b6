"""Events for an account connected late (SPEC 7): kept while nobody owns them, handed over at connect, processed."""
import pytest

from tests.support.inbox import drain
from tests.support.live import consent
from tests.support.webhooks import deliver
from webhook_app.sandbox import samples

pytestmark = pytest.mark.sandbox


def test_messages_sent_before_the_account_was_connected_reach_its_inbox(auth, browser, sandbox, server, settings,
                                                                        sql):
    early = samples.build(sandbox.state, "instagram_message", text="Sent before you connected")
    assert deliver(server.url, early).status_code == 200
    drain(settings)
    # Nobody owns the Instagram account yet: the event is kept, processed with a note, and no inbox has it.
    [(owner, status, note)] = sql("SELECT user_id, status, note FROM webhook_events")
    assert owner is None and status == "processed" and "kept for it" in note
    assert sql("SELECT count(*) FROM messages") == [(0,)]

    auth.register()
    assert consent(browser, "/connect/meta").status_code == 302
    assert sql("SELECT status, user_id IS NOT NULL, adopted_at IS NOT NULL FROM webhook_events") == [
        ("pending", True, True)]
    drain(settings)
    conversations = browser.api("GET", "/api/conversations").json()["conversations"]
    assert [c["last_message"]["text"] for c in conversations] == ["Sent before you connected"]
    health = browser.api("GET", "/api/webhook-health").json()
    assert health["arrived_before_connect"]["count"] == 1
    assert health["arrived_before_connect"]["last_handed_over_at"] is not None

    # Connecting again hands over nothing twice.
    assert consent(browser, "/connect/meta").status_code == 302
    drain(settings)
    assert sql("SELECT count(*) FROM messages") == [(1,)]
    assert browser.api("GET", "/api/webhook-health").json()["arrived_before_connect"]["count"] == 1


def test_another_accounts_unowned_events_stay_unowned(auth, browser, sandbox, server, settings, sql):
    stray = samples.build(sandbox.state, "instagram_message", object_id="17841499999999999")
    deliver(server.url, stray)
    drain(settings)
    auth.register()
    consent(browser, "/connect/meta")
    assert sql("SELECT user_id, status FROM webhook_events") == [(None, "processed")]
    assert browser.api("GET", "/api/webhook-health").json()["arrived_before_connect"]["count"] == 0
