"""Each send path end to end (SPEC 16): POST over HTTP, the sender calls the sandbox's send API once with Meta's
shape, and the status webhooks the sandbox sends back (signed, to the receiver) move the reply to `read`."""
from __future__ import annotations

import pytest

from tests.support.replies import connect_everything, conversation_of, customer_writes, send_now, until_status
from webhook_app.sandbox import messaging as sandbox_messaging

pytestmark = pytest.mark.sandbox


def _world(sandbox):
    return sandbox_messaging.world(sandbox.state)


def _reply(browser, conversation_id: int, body: dict) -> dict:
    sent = browser.api("POST", f"/api/conversations/{conversation_id}/messages", json=body)
    assert sent.status_code == 202, sent.text
    return sent.json()["message"]


@pytest.fixture
def everything(auth, browser, sandbox):
    connect_everything(auth, browser, sandbox)


def _one_send(sandbox, outbound_id: int) -> dict:
    sends = _world(sandbox).find_sends(outbound_id=str(outbound_id))
    assert len(sends) == 1 and _world(sandbox).counts[str(outbound_id)] == 1, sends
    return sends[0]


def _shown(browser, channel: str, outbound_id: int, kind: str = "direct") -> dict:
    conv = conversation_of(browser, channel, kind)
    [shown] = [m for m in conv["messages"] if (m.get("outbound") or {}).get("id") == outbound_id]
    # One row per reply: the echo or status webhooks never add a second one.
    assert len([m for m in conv["messages"] if m["direction"] == "outbound"]) == 1, conv["messages"]
    return shown


def test_whatsapp_text_to_read(browser, sandbox, settings, sql, everything):
    customer_writes(sandbox, settings, "whatsapp_message", "Do you have oat milk?")
    conv = conversation_of(browser, "whatsapp")
    reply = _reply(browser, conv["id"], {"text": "We do!"})
    assert send_now(settings).sent == 1
    call = _one_send(sandbox, reply["id"])["body"]
    assert call["messaging_product"] == "whatsapp" and call["to"] == conv["contact"]["id"]
    assert (call["type"], call["text"]["body"]) == ("text", "We do!")
    assert call["biz_opaque_callback_data"] == str(reply["id"])
    until_status(settings, sql, reply["id"], "read")
    shown = _shown(browser, "whatsapp", reply["id"])
    assert shown["status"] == "read" and shown["external_id"].startswith("wamid.")
    assert shown["outbound"]["external_id"] == shown["external_id"] and shown["outbound"]["attempts"] == 1


def test_whatsapp_image_with_caption_to_read(browser, sandbox, settings, sql, everything):
    customer_writes(sandbox, settings, "whatsapp_message", "What does it look like?")
    conv = conversation_of(browser, "whatsapp")
    reply = _reply(browser, conv["id"], {"attachment": {"type": "image", "url": "https://example.com/cup.jpg"},
                                        "text": "Like this"})
    send_now(settings)
    call = _one_send(sandbox, reply["id"])["body"]
    assert call["type"] == "image"
    assert call["image"] == {"link": "https://example.com/cup.jpg", "caption": "Like this"}
    until_status(settings, sql, reply["id"], "read")
    shown = _shown(browser, "whatsapp", reply["id"])
    assert shown["kind"] == "image" and shown["attachments"] == [{"type": "image", "url": "https://example.com/cup.jpg"}]


def test_whatsapp_template_after_the_window_to_read(browser, sandbox, settings, sql, everything):
    customer_writes(sandbox, settings, "whatsapp_message", "Tell me when it's ready")
    sql("UPDATE conversations SET last_inbound_at = now() - interval '2 days'")
    conv = conversation_of(browser, "whatsapp")
    reply = _reply(browser, conv["id"], {"template": {"name": "sandbox_template_1", "language": "en_US",
                                                      "variables": ["Ada", "#1042"]}})
    send_now(settings)
    call = _one_send(sandbox, reply["id"])["body"]
    assert call["type"] == "template" and call["template"] == {
        "name": "sandbox_template_1", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                                       {"type": "text", "text": "#1042"}]}]}
    until_status(settings, sql, reply["id"], "read")
    # The conversation shows what the customer read.
    assert _shown(browser, "whatsapp", reply["id"])["text"] == "Hello Ada, your order #1042 is ready."


def test_instagram_to_read(browser, sandbox, settings, sql, everything):
    customer_writes(sandbox, settings, "instagram_message", "Is the blue one back?")
    conv = conversation_of(browser, "instagram")
    reply = _reply(browser, conv["id"], {"text": "Yes, since Monday."})
    send_now(settings)
    call = _one_send(sandbox, reply["id"])["body"]
    assert call == {"recipient": {"id": conv["contact"]["id"]},
                    "message": {"text": "Yes, since Monday.", "metadata": str(reply["id"])}}
    until_status(settings, sql, reply["id"], "read")
    assert _shown(browser, "instagram", reply["id"])["status"] == "read"


def test_messenger_to_read(browser, sandbox, settings, sql, everything):
    customer_writes(sandbox, settings, "messenger_message", "Do you deliver on Sundays?")
    conv = conversation_of(browser, "messenger")
    reply = _reply(browser, conv["id"], {"text": "We do, until 2 pm."})
    send_now(settings)
    call = _one_send(sandbox, reply["id"])["body"]
    assert call["messaging_type"] == "RESPONSE" and call["recipient"] == {"id": conv["contact"]["id"]}
    until_status(settings, sql, reply["id"], "read")
    assert _shown(browser, "messenger", reply["id"])["status"] == "read"


def test_comment_reply_and_private_reply(browser, sandbox, settings, sql, everything):
    customer_writes(sandbox, settings, "instagram_comment", "How much is it?")
    thread = conversation_of(browser, "instagram", "comments")
    comment = thread["messages"][0]
    public = browser.api("POST", f"/api/comments/{comment['id']}/replies", json={"text": "12 EUR"}).json()["message"]
    private = browser.api("POST", f"/api/comments/{comment['id']}/replies",
                          json={"text": "Sent you the details", "private": True}).json()["message"]
    assert send_now(settings).sent == 2
    sends = _world(sandbox).find_sends()
    by_channel = {s["channel"]: s for s in sends}
    assert by_channel["instagram_comment"]["path"].endswith(f"/{comment['external_id']}/replies")
    assert by_channel["instagram_comment"]["body"] == {"message": "12 EUR"}
    assert by_channel["instagram_private_reply"]["body"]["recipient"] == {"comment_id": comment["external_id"]}
    assert _world(sandbox).counts[str(private["id"])] == 1
    until_status(settings, sql, public["id"], "sent")
    until_status(settings, sql, private["id"], "sent")
    shown = {m["outbound"]["kind"]: m for m in conversation_of(browser, "instagram", "comments")["messages"]
             if m.get("outbound")}
    assert shown["comment_reply"]["external_id"] == by_channel["instagram_comment"]["message_id"]
    # The private reply's echo (with our id as metadata) folded into the reply: no second row anywhere.
    assert sql("SELECT count(*) FROM messages WHERE external_id = %s",
               (by_channel["instagram_private_reply"]["message_id"],))[0][0] == 1


def test_refusals_from_meta_fail_retry_or_flag_the_account(browser, sandbox, settings, sql, everything):
    customer_writes(sandbox, settings, "whatsapp_message", "Hello?")
    conv = conversation_of(browser, "whatsapp")
    world = _world(sandbox)

    world.add_fault(131026)                                   # undeliverable: failed with Meta's code and title
    undeliverable = _reply(browser, conv["id"], {"text": "one"})
    send_now(settings)
    failed = browser.api("GET", f"/api/conversations/{conv['id']}").json()["messages"][-1]
    assert failed["outbound"]["status"] == "failed" and failed["outbound"]["error"]["code"] == 131026
    assert failed["outbound"]["error"]["title"] == "Message undeliverable"
    assert sql("SELECT status FROM outbound_messages WHERE id = %s", (undeliverable["id"],)) == [("failed",)]

    world.add_fault(131000)                                   # Meta's own trouble: queued again with a backoff
    retried = _reply(browser, conv["id"], {"text": "two"})
    send_now(settings)
    row = sql("SELECT status, attempts, next_attempt_at > now(), error->>'code' FROM outbound_messages WHERE id = %s",
              (retried["id"],))[0]
    assert row == ("queued", 1, True, "131000")
    sql("UPDATE outbound_messages SET next_attempt_at = now() WHERE id = %s", (retried["id"],))
    send_now(settings)
    assert sql("SELECT status, attempts FROM outbound_messages WHERE id = %s", (retried["id"],)) == [("sent", 2)]
    assert world.counts[str(retried["id"])] == 1

    world.add_fault(190)                                      # the token: the account is flagged, the message fails
    refused = _reply(browser, conv["id"], {"text": "three"})
    send_now(settings)
    assert sql("SELECT status FROM outbound_messages WHERE id = %s", (refused["id"],)) == [("failed",)]
    assert sql("SELECT status FROM credentials WHERE kind = 'whatsapp'") == [("needs_reauth",)]
    again = browser.api("POST", f"/api/conversations/{conv['id']}/messages", json={"text": "four"})
    assert (again.status_code, again.json()["reason"]) == (409, "reauth_needed")
