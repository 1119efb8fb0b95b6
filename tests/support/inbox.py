"""Test helpers for conversations: an owner with connected Meta ids, deliveries drained twice, API look-ups."""
from __future__ import annotations

import json

from tests.support.webhooks import deliver
from webhook_app.webhooks.processor import Processor

IG, PAGE, WABA, PHONE = "17841400000000001", "106000000000001", "102000000000001", "109000000000001"


def connect_ids(sql, user_id: int) -> None:
    """Route the Instagram account, Page and WhatsApp Business account's webhooks to the user."""
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES "
        "(%s, %s, 'instagram'), (%s, %s, 'page'), (%s, %s, 'whatsapp_business'), (%s, %s, 'whatsapp_phone')",
        (IG, user_id, PAGE, user_id, WABA, user_id, PHONE, user_id))


def drain(settings):
    processor = Processor(settings, workers=1)
    try:
        return processor.run_once()
    finally:
        processor.close()


def deliver_all(server, settings, sql, payloads: list[dict]) -> None:
    """Deliver each payload, then again as the same bytes and as other bytes (re-serialized): the inbox
    must look exactly the same after the second and third rounds as after the first."""
    for payload in payloads:
        assert deliver(server.url, payload).status_code == 200
    drain(settings)
    first = snapshot(sql)
    for payload in payloads:
        assert deliver(server.url, payload).status_code == 200  # same bytes: stored once
        resent = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False).encode()
        assert deliver(server.url, resent).status_code == 200   # same content, new bytes: a new event
    drain(settings)
    assert snapshot(sql) == first, "a redelivery changed the inbox"
    assert sql("SELECT count(*) FROM webhook_events WHERE status <> 'processed'") == [(0,)], \
        sql("SELECT status, errors FROM webhook_events WHERE status <> 'processed'")


def snapshot(sql):
    return (sql("SELECT external_id, kind, text, content::text, reactions::text, edits::text, status, error::text, "
                "deleted_at, edited_at, conversation_id FROM messages ORDER BY external_id"),
            sql("SELECT id, last_message_at, last_inbound_at, contact_id FROM conversations ORDER BY id"),
            sql("SELECT external_id, name, username FROM contacts ORDER BY id"),
            sql("SELECT count(*) FROM message_statuses"))


def conversation(browser, contact: str | None = None, **filters) -> dict:
    """The one conversation (with its messages) of the contact, as GET /api/conversations/<id> shows it."""
    listed = browser.api("GET", "/api/conversations", params={"limit": 200, **filters})
    assert listed.status_code == 200, listed.text
    found = [c for c in listed.json()["conversations"] if contact is None or c["contact"]["id"] == contact]
    assert len(found) == 1, [c["contact"] for c in listed.json()["conversations"]]
    detail = browser.api("GET", f"/api/conversations/{found[0]['id']}", params={"limit": 200})
    assert detail.status_code == 200, detail.text
    return detail.json()


def by_id(conv: dict) -> dict[str, dict]:
    return {m["external_id"]: m for m in conv["messages"]}


def ig_entry(*items, account: str = IG, object: str = "instagram", key: str = "messaging") -> dict:
    return {"object": object, "entry": [{"id": account, "time": 1733000000000, key: list(items)}]}


def ig_item(sender: str, recipient: str, ts: int, **what) -> dict:
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ts, **what}


def wa_change(field: str, value: dict, waba: str = WABA) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": [{"field": field, "value": value}]}]}


def wa_messages(*messages, contacts=None, statuses=None) -> dict:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE}}
    if contacts is not None:
        value["contacts"] = contacts
    if messages:
        value["messages"] = list(messages)
    if statuses is not None:
        value["statuses"] = statuses
    return wa_change("messages", value)
