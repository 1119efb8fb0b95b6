"""Every sample webhook of the sandbox, sent from its control API to the app: each is processed (none failed, none
without a handler) and what a person would see shows in the inbox (SPEC 11, 15)."""
import pytest
import requests

from tests.support.inbox import drain
from tests.support.live import consent
from webhook_app.sandbox.samples import KINDS

pytestmark = pytest.mark.sandbox

ACTIVITY = {"template_status", "template_quality", "account_update", "phone_quality"}   # not conversations


def test_every_sample_kind_is_handled_and_shows_in_the_inbox(auth, browser, sandbox, server, settings, sql):
    auth.register()
    consent(browser, "/connect/meta")
    consent(browser, "/connect/whatsapp")
    for kind in KINDS:
        answer = requests.post(sandbox.url + "/_sandbox/api/webhooks", json={"kind": kind}, timeout=10).json()
        assert answer["status"] == 200, (kind, answer)
        drain(settings)   # one at a time, in order: a reaction finds the message before it
    assert sql("SELECT status, note FROM webhook_events WHERE status <> 'processed' OR note IS NOT NULL") == []
    assert sql("SELECT count(*) FROM webhook_events")[0][0] == len(KINDS)

    conversations = browser.api("GET", "/api/conversations", params={"limit": 200}).json()["conversations"]
    labels = {c["contact"]["label"] for c in conversations}
    assert {"Jonas Weber", "Kerry Fisher", "@anna.shops", "Mentions on Instagram"} <= labels
    shown = []
    for c in conversations:
        shown += browser.api("GET", f"/api/conversations/{c['id']}", params={"limit": 200}).json()["messages"]
    kinds = {m["kind"] for m in shown}
    assert {"text", "image", "story_mention", "share", "ig_reel", "postback", "referral", "comment", "live_comment",
            "mention", "document", "audio", "location", "contacts", "choice", "order"} <= kinds
    assert all(m["summary"] for m in shown)
    assert any(m["reactions"] for m in shown) and any(m["edited"] for m in shown) and any(m["deleted"] for m in shown)
    wa_echo = next(m for m in shown if m["direction"] == "outbound" and m["status"] == "failed")
    assert wa_echo["error"]["code"] == 131047
    # Attachment pictures come from the sandbox's stand-in for Meta's CDN, and load.
    image = next(m for m in shown if m["kind"] == "image" and "url" in m["attachments"][0])
    assert image["attachments"][0]["url"].startswith(sandbox.url + "/cdn/")
    assert requests.get(image["attachments"][0]["url"], timeout=10).headers["Content-Type"] == "image/png"
    assert sql("SELECT count(*) FROM interactions WHERE kind IN ('template_status', 'template_quality', "
               "'account_update', 'phone_quality')")[0][0] == len(ACTIVITY)
