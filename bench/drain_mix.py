"""A realistic mix of Meta's webhook kinds, as pending events: what bench/drain.py drains with the real handlers.

Of every 100 events: Instagram text 24, attachments 8, story replies 3, reactions 5, echoes 6, seen 4,
edits 1, comments 6, mentions 1; Messenger text 6, delivery receipts 3; Page feed comments 3;
WhatsApp text 12, images 4, buttons and list replies 3, locations 1, statuses 9, echoes 1.
Spread over 2,000 Instagram, 500 Messenger and 1,500 WhatsApp contacts.
"""
from __future__ import annotations

import json
import random

IG, PAGE, WABA, PHONE = "17841400000000001", "106000000000001", "102000000000001", "109000000000001"
CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={n}&signature=x"

MIX = [("ig_text", 24), ("ig_attachment", 8), ("ig_story_reply", 3), ("ig_reaction", 5), ("ig_echo", 6),
       ("ig_seen", 4), ("ig_edit", 1), ("ig_comment", 6), ("ig_mention", 1), ("fb_text", 6), ("fb_delivery", 3),
       ("fb_feed_comment", 3), ("wa_text", 12), ("wa_image", 4), ("wa_choice", 3), ("wa_location", 1),
       ("wa_status", 9), ("wa_echo", 1)]


def _entries(n: int, seed: int = 7):
    rng = random.Random(seed)
    kinds = [k for k, weight in MIX for _ in range(weight)]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        ts = 1733000000000 + i * 10
        ig_user, fb_user, wa_user = f"ig{rng.randrange(2000)}", f"fb{rng.randrange(500)}", f"4915{rng.randrange(1500):06d}"
        recent = max(0, i - rng.randrange(1, 200))
        if kind.startswith(("ig_", "fb_text", "fb_delivery")):
            obj, account = ("instagram", IG) if kind.startswith("ig_") else ("page", PAGE)
            user = ig_user if kind.startswith("ig_") else fb_user
            item = {"sender": {"id": user}, "recipient": {"id": account}, "timestamp": ts}
            if kind in ("ig_text", "fb_text"):
                item["message"] = {"mid": f"mid.{i}", "text": f"Hello, is item {i % 300} in stock?"}
            elif kind == "ig_attachment":
                item["message"] = {"mid": f"mid.{i}", "attachments": [{"type": "image", "payload": {"url": CDN.format(n=i)}}]}
            elif kind == "ig_story_reply":
                item["message"] = {"mid": f"mid.{i}", "text": "Love this",
                                   "reply_to": {"story": {"url": CDN.format(n=i), "id": f"story{i}"}}}
            elif kind == "ig_reaction":
                item["reaction"] = {"mid": f"mid.{recent}", "action": "react", "reaction": "love", "emoji": "\u2764"}
            elif kind == "ig_echo":
                item = {"sender": {"id": account}, "recipient": {"id": user}, "timestamp": ts,
                        "message": {"mid": f"mid.{i}", "text": "Thanks, yes it is!", "is_echo": True}}
            elif kind == "ig_seen":
                item["read"] = {"mid": f"mid.{recent}"}
            elif kind == "ig_edit":
                item["message_edit"] = {"mid": f"mid.{recent}", "text": "edited text", "num_edit": 1}
            elif kind == "fb_delivery":
                item["delivery"] = {"mids": [f"mid.{recent}"], "watermark": ts - 5}
            if kind in ("ig_comment", "ig_mention"):
                field = "comments" if kind == "ig_comment" else "mentions"
                value = ({"from": {"id": ig_user, "username": f"user{ig_user}"}, "id": f"c{i}", "text": "How much?",
                          "media": {"id": f"media{i % 50}", "media_product_type": "FEED"}}
                         if field == "comments" else {"media_id": f"media{i % 50}", "comment_id": f"c{i}"})
                yield obj, field, {"id": account, "time": ts // 1000, "changes": [{"field": field, "value": value}]}
            else:
                yield obj, "messaging", {"id": account, "time": ts, "messaging": [item]}
        elif kind == "fb_feed_comment":
            post = f"{PAGE}_{i % 40}"
            yield "page", "feed", {"id": PAGE, "time": ts // 1000, "changes": [{"field": "feed", "value": {
                "from": {"id": fb_user, "name": f"Fan {fb_user}"}, "item": "comment", "verb": "add", "post_id": post,
                "parent_id": post, "comment_id": f"{i % 40}_{i}", "created_time": ts // 1000, "message": "Nice!"}}]}
        else:
            value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881",
                                                                   "phone_number_id": PHONE}}
            message = {"from": wa_user, "id": f"wamid.{i}", "timestamp": str(ts // 1000)}
            field = "messages"
            if kind == "wa_text":
                message.update(type="text", text={"body": f"Hallo, Bestellung {i}?"})
            elif kind == "wa_image":
                message.update(type="image", image={"caption": "this one", "mime_type": "image/jpeg", "sha256": "x",
                                                    "id": f"media{i}"})
            elif kind == "wa_choice":
                message.update(type="interactive", interactive={"type": "button_reply",
                                                                "button_reply": {"id": "yes", "title": "Yes"}})
            elif kind == "wa_location":
                message.update(type="location", location={"latitude": 52.52, "longitude": 13.405, "name": "Shop"})
            if kind == "wa_status":
                value["statuses"] = [{"id": f"wamid.{recent}", "status": "delivered", "timestamp": str(ts // 1000),
                                      "recipient_id": wa_user, "pricing": {"billable": True, "category": "service",
                                                                           "pricing_model": "PMP"}}]
            elif kind == "wa_echo":
                field = "smb_message_echoes"
                value["message_echoes"] = [{"from": "15550783881", "to": wa_user, "id": f"wamid.{i}",
                                            "timestamp": str(ts // 1000), "type": "text", "text": {"body": "On its way"}}]
            else:
                value["contacts"] = [{"profile": {"name": f"Kunde {wa_user[-4:]}"}, "wa_id": wa_user}]
                value["messages"] = [message]
            yield "whatsapp_business_account", field, {"id": WABA, "changes": [{"field": field, "value": value}]}


SEED = """
WITH d AS (INSERT INTO webhook_deliveries (body_sha256, object, entry_count)
           VALUES (sha256(%(tag)s::bytea), 'mixed', %(n)s) RETURNING id)
INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload)
SELECT d.id, %(offset)s + e.n - 1, %(user_id)s, e.value ->> 'object', e.value ->> 'field', e.value -> 'entry' ->> 'id',
       e.value -> 'entry'
FROM d, jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e (value, n);
"""


def seed(run_sql, url: str, n: int, tag: str) -> int:
    """Insert n pending events of the mix for one user owning the accounts; returns the user's id."""
    user_id = run_sql(url, "INSERT INTO users (email, password_hash) VALUES ('bench@example.com', 'x') RETURNING id")[0][0]
    for external_id, kind in ((IG, "instagram"), (PAGE, "page"), (WABA, "whatsapp_business"), (PHONE, "whatsapp_phone")):
        run_sql(url, "INSERT INTO account_routes (external_id, user_id, kind) VALUES (%s, %s, %s)",
                (external_id, user_id, kind))
    events = [{"object": o, "field": f, "entry": e} for o, f, e in _entries(n)]
    for start in range(0, n, 10_000):
        chunk = events[start:start + 10_000]
        run_sql(url, SEED.replace("sha256(%(tag)s::bytea)", f"sha256((%(tag)s || '{start}')::bytea)"),
                {"tag": tag, "n": len(chunk), "offset": start, "user_id": user_id, "events": json.dumps(chunk)})
    return user_id
