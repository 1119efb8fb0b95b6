"""Every item kind and field of SPEC 8, in Meta's documented shapes, as the conversation shows it (SPEC 15).

Each test delivers Meta's payloads, delivers them again (same bytes, then re-serialized), and reads
the result where a user would: GET /api/conversations/<id>. Shapes follow Meta's reference pages:
Instagram Messaging webhooks (messages, message_reactions, message_edit, messaging_postbacks,
messaging_referral, messaging_seen), Messenger Platform webhook events (message_deliveries,
message_reads, standby, messaging_handovers), Instagram comments / live_comments / mentions, the
Page feed, and the WhatsApp Cloud API messages webhook (every message type, statuses with errors
and pricing), smb_message_echoes and the template and account fields.
"""
import pytest

from tests.support.inbox import (
    IG,
    PAGE,
    PHONE,
    by_id,
    connect_ids,
    conversation,
    deliver_all,
    drain,
    ig_entry,
    ig_item,
    wa_change,
    wa_messages,
)
from tests.support.rows import user_id
from tests.support.webhooks import deliver

CUSTOMER = "1254459154682919"   # an IGSID
PSID = "6583743608123456"
WA_ID = "16505551234"
CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17915963516997491&signature=Ab"


@pytest.fixture
def owner(auth, sql):
    assert auth.register().status_code == 302
    user = user_id(sql, "owner@example.com")
    connect_ids(sql, user)
    return user


def ig_in(ts, **what):
    return ig_item(CUSTOMER, IG, 1733000000000 + ts, **what)


# ---- Instagram messaging ------------------------------------------------------------------------

def test_instagram_messages_attachments_replies_and_quick_replies(server, settings, sql, browser, owner):
    deliver_all(server, settings, sql, [ig_entry(
        ig_in(1, message={"mid": "m.text", "text": "Is the shop open?"}),
        ig_in(2, message={"mid": "m.image", "attachments": [{"type": "image", "payload": {"url": CDN}}]}),
        ig_in(3, message={"mid": "m.share", "attachments": [{"type": "share", "payload": {"url": CDN + "&s=1"}}]}),
        ig_in(4, message={"mid": "m.story", "attachments": [{"type": "story_mention", "payload": {"url": CDN + "&t"}}]}),
        ig_in(5, message={"mid": "m.reel", "attachments": [{"type": "ig_reel", "payload": {
            "reel_video_id": "17932591085987654", "title": "Summer drop", "url": CDN + "&r"}}]}),
        ig_in(6, message={"mid": "m.reply", "text": "This one", "reply_to": {"mid": "m.image"}}),
        ig_in(7, message={"mid": "m.storyreply", "text": "Love it",
                          "reply_to": {"story": {"url": CDN + "&st", "id": "17890000000000001"}}}),
        ig_in(8, message={"mid": "m.quick", "text": "Red", "quick_reply": {"payload": "COLOR_RED"}}),
        ig_in(9, message={"mid": "m.unsupported", "is_unsupported": True}),
    )])
    conv = conversation(browser, CUSTOMER)
    assert conv["channel"] == "instagram" and conv["kind"] == "direct" and conv["account_id"] == IG
    messages = by_id(conv)
    assert [m["external_id"] for m in conv["messages"]] == [
        "m.text", "m.image", "m.share", "m.story", "m.reel", "m.reply", "m.storyreply", "m.quick", "m.unsupported"]
    assert messages["m.text"]["text"] == "Is the shop open?" and messages["m.text"]["direction"] == "inbound"
    assert messages["m.image"]["attachments"] == [{"type": "image", "url": CDN}]
    assert messages["m.image"]["summary"] == "Photo"
    assert messages["m.share"]["summary"] == "Shared a post"
    assert messages["m.story"]["summary"] == "Mentioned you in their story"
    assert messages["m.story"]["attachments"][0]["url"] == CDN + "&t"
    assert messages["m.reel"]["attachments"] == [{"type": "ig_reel", "url": CDN + "&r", "title": "Summer drop",
                                                  "reel_video_id": "17932591085987654"}]
    assert messages["m.reply"]["reply_to"] == {"mid": "m.image", "found": True, "summary": "Photo"}
    assert messages["m.storyreply"]["reply_to"] == {"story": {"id": "17890000000000001", "url": CDN + "&st"}}
    assert messages["m.quick"]["quick_reply"] == {"payload": "COLOR_RED"} and messages["m.quick"]["text"] == "Red"
    assert messages["m.unsupported"]["kind"] == "unsupported" and messages["m.unsupported"]["summary"]
    assert all(m["summary"] for m in conv["messages"])
    assert conv["unread_count"] == 9


def test_instagram_reactions_edits_deletions_echoes_and_seen(server, settings, sql, browser, owner):
    deliver_all(server, settings, sql, [
        ig_entry(ig_in(1, message={"mid": "m.hello", "text": "Hello"}),
                 ig_in(2, message={"mid": "m.photo", "attachments": [{"type": "image", "payload": {"url": CDN}}]}),
                 ig_item(IG, CUSTOMER, 1733000000003, message={"mid": "m.echo", "text": "Hi! How can we help?",
                                                               "is_echo": True})),
        ig_entry(ig_in(4, reaction={"mid": "m.echo", "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"}),
                 ig_in(5, reaction={"mid": "m.photo", "action": "react", "reaction": "wow", "emoji": "\U0001f62e"}),
                 ig_in(6, reaction={"mid": "m.photo", "action": "unreact"}),
                 ig_in(7, message_edit={"mid": "m.hello", "text": "Hello there", "num_edit": 1}),
                 ig_in(8, message={"mid": "m.photo", "is_deleted": True}),
                 ig_in(9, read={"mid": "m.echo"})),
    ])
    # A reaction arriving late (older than the unreact) does not bring the removed reaction back.
    deliver_all(server, settings, sql, [ig_entry(
        ig_in(5, reaction={"mid": "m.photo", "action": "react", "reaction": "wow", "emoji": "\U0001f62e"}))])
    messages = by_id(conversation(browser, CUSTOMER))
    assert set(messages) == {"m.hello", "m.photo", "m.echo"}   # reactions and receipts are not messages
    echo = messages["m.echo"]
    assert echo["direction"] == "outbound" and echo["status"] == "read"
    assert echo["reactions"] == [{"by": CUSTOMER, "emoji": "\u2764\ufe0f", "reaction": "love",
                                  "at": "2024-11-30T20:53:20.004000+00:00"}]
    assert messages["m.photo"]["reactions"] == []
    assert messages["m.photo"]["deleted"] and messages["m.photo"]["attachments"] == []
    assert messages["m.photo"]["summary"] == "Message deleted"
    hello = messages["m.hello"]
    assert hello["text"] == "Hello there" and hello["edited"]
    assert [e["text"] for e in hello["edits"]] == ["Hello"]


def test_postbacks_referrals_and_messenger_receipts_standby_and_handover(server, settings, sql, browser, owner):
    deliver_all(server, settings, sql, [
        ig_entry(ig_in(1, postback={"mid": "m.postback", "title": "Get started", "payload": "GET_STARTED"}),
                 ig_in(2, referral={"ref": "summer-sale", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "6045",
                                    "ads_context_data": {"ad_title": "Summer sale", "photo_url": CDN,
                                                         "post_id": "17900000000000002"}})),
        ig_entry(ig_item(PAGE, PSID, 1733000000010, message={"mid": "m.page.echo", "text": "We open at 9",
                                                             "is_echo": True, "app_id": 1517776481860111}),
                 ig_item(PAGE, PSID, 1733000000011, message={"mid": "m.page.echo2", "text": "See you!",
                                                             "is_echo": True}),
                 object="page", account=PAGE),
        ig_entry(ig_item(PSID, PAGE, 1733000000012, delivery={"mids": ["m.page.echo"], "watermark": 1733000000010}),
                 ig_item(PSID, PAGE, 1733000000013, read={"watermark": 1733000000011}),
                 object="page", account=PAGE),
        ig_entry(ig_item(PSID, PAGE, 1733000000014, message={"mid": "m.standby", "text": "still there?"}),
                 object="page", account=PAGE, key="standby"),
        ig_entry(ig_item(PSID, PAGE, 1733000000015, pass_thread_control={"new_owner_app_id": "263902037430900",
                                                                         "metadata": "to the shop team"}),
                 object="page", account=PAGE),
    ])
    ig = by_id(conversation(browser, CUSTOMER))
    assert ig["m.postback"]["kind"] == "postback" and ig["m.postback"]["text"] == "Get started"
    assert ig["m.postback"]["postback"] == {"payload": "GET_STARTED"}
    referral = next(m for m in ig.values() if m["kind"] == "referral")
    assert referral["referral"]["ref"] == "summer-sale" and referral["text"] == "Summer sale"
    page = conversation(browser, PSID)
    assert page["channel"] == "messenger"
    messages = by_id(page)
    assert messages["m.page.echo"]["status"] == "read" and messages["m.page.echo2"]["status"] == "read"
    assert messages["m.standby"]["text"] == "still there?"
    handover = next(m for m in page["messages"] if m["kind"] == "handover")
    assert handover["summary"] == "Conversation passed to app 263902037430900"


def test_messenger_delivery_without_read_moves_only_the_named_messages(server, settings, sql, browser, owner):
    deliver_all(server, settings, sql, [
        ig_entry(ig_item(PAGE, PSID, 1733000000010, message={"mid": "m.a", "text": "one", "is_echo": True}),
                 ig_item(PAGE, PSID, 1733000000020, message={"mid": "m.b", "text": "two", "is_echo": True}),
                 object="page", account=PAGE),
        ig_entry(ig_item(PSID, PAGE, 1733000000030, delivery={"mids": ["m.a"], "watermark": 1733000000015}),
                 object="page", account=PAGE),
    ])
    messages = by_id(conversation(browser, PSID))
    assert (messages["m.a"]["status"], messages["m.b"]["status"]) == ("delivered", None)


# ---- comments, mentions, the Page feed ----------------------------------------------------------

def test_comments_in_both_shapes_live_comments_and_mentions_are_threads(server, settings, sql, browser, owner):
    deliver_all(server, settings, sql, [{"object": "instagram", "entry": [{"id": IG, "time": 1733000100, "changes": [
        {"field": "comments", "value": {"from": {"id": "232323232", "username": "shopper.anna"},
                                        "media": {"id": "17866666", "media_product_type": "FEED"},
                                        "id": "17865799348089039", "text": "How much is it?"}},
        {"field": "comments", "value": {"from": {"id": "232323232", "username": "shopper.anna"},
                                        "media": {"id": "17866666", "media_product_type": "FEED"},
                                        "comment_id": "17865799348089040", "parent_id": "17865799348089039",
                                        "text": "And in blue?"}},
        {"field": "comments", "value": {"from": {"id": IG, "username": "our.shop"},
                                        "media": {"id": "17866666", "media_product_type": "FEED"},
                                        "id": "17865799348089041", "parent_id": "17865799348089039",
                                        "text": "29 EUR"}},
        {"field": "live_comments", "value": {"from": {"id": "454545", "username": "live.viewer"},
                                             "media": {"id": "17877777", "media_product_type": "LIVE"},
                                             "id": "17999999", "text": "hello from the live"}},
        {"field": "mentions", "value": {"media_id": "17888888", "comment_id": "17901234"}},
        {"field": "mentions", "value": {"media_id": "17888889"}},
    ]}]}])
    anna = conversation(browser, "232323232", kind="comments")
    assert anna["kind"] == "comments" and anna["thread_key"] == "17866666"
    assert anna["contact"]["label"] == "@shopper.anna"
    assert [(m["kind"], m["direction"], m["text"]) for m in anna["messages"]] == [
        ("comment", "inbound", "How much is it?"), ("comment", "inbound", "And in blue?"),
        ("comment", "outbound", "29 EUR")]
    live = conversation(browser, "454545")
    assert live["messages"][0]["kind"] == "live_comment"
    mentions = browser.api("GET", "/api/conversations", params={"kind": "mentions"}).json()["conversations"]
    assert sorted(c["thread_key"] for c in mentions) == ["17888888", "17888889"]
    assert {c["last_message"]["summary"] for c in mentions} == {"Mentioned you in a comment",
                                                                "Mentioned you in a post"}


def test_page_feed_comments_edits_removals_and_reactions(server, settings, sql, browser, owner):
    post = f"{PAGE}_555"

    def feed(**value):
        return {"object": "page", "entry": [{"id": PAGE, "time": 1733000200, "changes": [{"field": "feed", "value": {
            "post_id": post, "created_time": 1733000200, **value}}]}]}
    fan = {"id": "7001", "name": "Ben Fan"}
    deliver_all(server, settings, sql, [
        feed(item="comment", verb="add", comment_id="555_1", parent_id=post, message="Great post", **{"from": fan}),
        feed(item="comment", verb="add", comment_id="555_2", parent_id=post, message="typo", **{"from": fan}),
        feed(item="comment", verb="edited", comment_id="555_1", message="Great post!!", created_time=1733000300,
             **{"from": fan}),
        feed(item="comment", verb="remove", comment_id="555_2", **{"from": fan}),
        feed(item="reaction", verb="add", comment_id="555_1", reaction_type="love", **{"from": {"id": "7002"}}),
        feed(item="status", verb="add", message="We are open on Sunday", **{"from": {"id": PAGE}}),
    ])
    conv = conversation(browser, "7001")
    assert conv["channel"] == "messenger" and conv["kind"] == "comments" and conv["contact"]["label"] == "Ben Fan"
    messages = by_id(conv)
    assert messages["555_1"]["text"] == "Great post!!" and messages["555_1"]["edited"]
    assert messages["555_1"]["reactions"][0]["emoji"] == "love"
    assert messages["555_2"]["deleted"]
    # The Page's own post is activity, not a conversation.
    assert browser.api("GET", "/api/conversations").json()["conversations"] == [
        c for c in browser.api("GET", "/api/conversations").json()["conversations"] if c["contact"]["id"] == "7001"]
    assert sql("SELECT kind, text FROM interactions") == [("feed", "We are open on Sunday")]


# ---- WhatsApp -----------------------------------------------------------------------------------

def wa(ts, kind, body=None, **extra):
    message = {"from": WA_ID, "id": f"wamid.{kind}.{ts}", "timestamp": str(1733000000 + ts), "type": kind, **extra}
    if body is not None:
        message[kind] = body
    return message


def test_whatsapp_every_message_type_shows_what_the_customer_sent(server, settings, sql, browser, owner):
    contacts = [{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_ID}]
    deliver_all(server, settings, sql, [wa_messages(
        wa(1, "text", {"body": "Hi, is the red one in stock?"}),
        wa(2, "image", {"caption": "This one", "mime_type": "image/jpeg", "sha256": "abc=", "id": "1479537139650973"}),
        wa(3, "document", {"caption": "Invoice", "filename": "invoice-42.pdf", "mime_type": "application/pdf",
                           "sha256": "def=", "id": "1479537139650974"}),
        wa(4, "audio", {"mime_type": "audio/ogg; codecs=opus", "sha256": "ghi=", "id": "1479537139650975",
                        "voice": True}),
        wa(5, "video", {"mime_type": "video/mp4", "sha256": "jkl=", "id": "1479537139650976"}),
        wa(6, "sticker", {"mime_type": "image/webp", "sha256": "mno=", "id": "1479537139650977", "animated": False}),
        wa(7, "location", {"latitude": 37.4848, "longitude": -122.1483, "name": "Philz Coffee",
                           "address": "101 Forest Ave, Palo Alto, CA 94301", "url": "https://philzcoffee.com"}),
        wa(8, "contacts", None, contacts=[{"name": {"formatted_name": "Barbara J. Johnson", "first_name": "Barbara"},
                                           "phones": [{"phone": "+1 (940) 555-1234", "wa_id": "19405551234",
                                                       "type": "HOME"}],
                                           "emails": [{"email": "bjohnson@example.com", "type": "WORK"}]}]),
        wa(9, "interactive", {"type": "button_reply", "button_reply": {"id": "change-button", "title": "Change"}},
           context={"from": "15550783881", "id": "wamid.ours.1"}),
        wa(10, "interactive", {"type": "list_reply", "list_reply": {"id": "priority_express",
                                                                    "title": "Express Shipping",
                                                                    "description": "Next Day to 2 Days"}}),
        wa(11, "button", {"payload": "Unsubscribe", "text": "Stop promotions"},
           context={"from": "15550783881", "id": "wamid.template.1"}),
        wa(12, "order", {"catalog_id": "194836987003835", "text": "Please deliver before noon",
                         "product_items": [{"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30,
                                            "currency": "USD"}]}),
        wa(13, "text", {"body": "I saw your ad!"},
           referral={"source_url": "https://fb.me/3cr4Wqqkv", "source_id": "120226305854810726",
                     "source_type": "ad", "headline": "Chat with us", "body": "Free delivery this week",
                     "media_type": "image", "image_url": CDN, "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ"}),
        wa(14, "text", {"body": "Yes that"}, context={"from": WA_ID, "id": "wamid.image.2"}),
        wa(15, "system", {"body": "Kerry changed their phone number to a new number", "wa_id": "16505550000",
                          "type": "user_changed_number"}),
        wa(16, "unsupported", None, errors=[{"code": 131051, "title": "Message type unknown",
                                             "message": "Message type unknown",
                                             "error_data": {"details": "Message type is currently not supported."}}]),
        wa(17, "poll_vote", {"option": 2}),
        contacts=contacts)])
    conv = conversation(browser, WA_ID)
    assert conv["channel"] == "whatsapp" and conv["account_id"] == PHONE
    assert conv["contact"]["name"] == "Kerry Fisher" and conv["contact"]["label"] == "Kerry Fisher"
    m = {x["external_id"].split(".")[1] + x["external_id"].split(".")[2]: x for x in conv["messages"]}
    assert m["text1"]["text"] == "Hi, is the red one in stock?"
    assert m["image2"]["text"] == "This one" and m["image2"]["attachments"] == [
        {"type": "image", "media_id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc=",
         "caption": "This one"}]
    assert m["document3"]["attachments"][0]["filename"] == "invoice-42.pdf" and m["document3"]["text"] == "Invoice"
    assert m["audio4"]["summary"] == "Voice message"
    assert m["video5"]["summary"] == "Video" and m["sticker6"]["summary"] == "Sticker"
    assert m["location7"]["location"] == {"latitude": 37.4848, "longitude": -122.1483, "name": "Philz Coffee",
                                          "address": "101 Forest Ave, Palo Alto, CA 94301",
                                          "url": "https://philzcoffee.com"}
    assert m["contacts8"]["contacts"] == [{"name": "Barbara J. Johnson", "phones": [
        {"phone": "+1 (940) 555-1234", "wa_id": "19405551234", "type": "HOME"}], "emails": ["bjohnson@example.com"],
        "org": None}]
    assert m["contacts8"]["summary"] == "Contact: Barbara J. Johnson"
    assert m["interactive9"]["text"] == "Change" and m["interactive9"]["choice"]["id"] == "change-button"
    assert m["interactive9"]["reply_to"] == {"mid": "wamid.ours.1", "from": "15550783881", "found": False,
                                             "summary": "An earlier message"}
    assert m["interactive10"]["text"] == "Express Shipping"
    assert m["interactive10"]["choice"]["description"] == "Next Day to 2 Days"
    assert m["button11"]["text"] == "Stop promotions" and m["button11"]["choice"]["payload"] == "Unsubscribe"
    assert m["order12"]["order"]["items"][0]["quantity"] == 2 and m["order12"]["text"] == "Please deliver before noon"
    assert m["text13"]["referral"]["headline"] == "Chat with us"
    assert m["text14"]["reply_to"]["found"] and m["text14"]["reply_to"]["summary"] == "This one"
    assert m["system15"]["kind"] == "system" and "changed their phone number" in m["system15"]["text"]
    assert m["unsupported16"]["kind"] == "unsupported" and m["unsupported16"]["errors"][0]["code"] == 131051
    assert m["poll_vote17"]["kind"] == "poll_vote" and m["poll_vote17"]["summary"] == "Poll vote"


def test_whatsapp_reactions_edits_and_revokes_change_the_message_they_are_about(server, settings, sql, browser, owner):
    deliver_all(server, settings, sql, [
        wa_messages(wa(1, "text", {"body": "Can I pay by card?"}), wa(2, "text", {"body": "Thanks"})),
        wa_messages(wa(3, "reaction", {"message_id": "wamid.text.2", "emoji": "\U0001f44d"}),
                    wa(4, "edit", {"original_message_id": "wamid.text.1",
                                   "message": {"type": "text", "text": {"body": "Can I pay by credit card?"}}}),
                    wa(5, "reaction", {"message_id": "wamid.text.1", "emoji": "\U0001f600"}),
                    wa(6, "reaction", {"message_id": "wamid.text.1"}),   # no emoji: the reaction is removed
                    wa(7, "revoke", {"original_message_id": "wamid.text.2"})),
    ])
    messages = by_id(conversation(browser, WA_ID))
    assert set(messages) == {"wamid.text.1", "wamid.text.2"}
    first, second = messages["wamid.text.1"], messages["wamid.text.2"]
    assert first["text"] == "Can I pay by credit card?" and first["edits"][0]["text"] == "Can I pay by card?"
    assert first["reactions"] == []
    assert [r["emoji"] for r in second["reactions"]] == ["\U0001f44d"] and second["deleted"]


def test_whatsapp_statuses_attach_to_our_message_with_error_and_pricing(server, settings, sql, browser, owner):
    def status(wamid, state, ts, **extra):
        return {"id": wamid, "status": state, "timestamp": str(1733000000 + ts), "recipient_id": WA_ID, **extra}
    pricing = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    echo = {"from": "15550783881", "to": WA_ID, "id": "wamid.echo.1", "timestamp": "1733000001", "type": "text",
            "text": {"body": "Your order has shipped"}}
    failed = {"from": "15550783881", "to": WA_ID, "id": "wamid.echo.2", "timestamp": "1733000002", "type": "text",
              "text": {"body": "Anything else?"}}
    deliver_all(server, settings, sql, [
        # A status before the message it is about is kept, and the message takes it when it arrives.
        wa_messages(statuses=[status("wamid.echo.1", "sent", 2, pricing=pricing,
                                     conversation={"id": "c1", "origin": {"type": "utility"}})]),
        wa_change("smb_message_echoes", {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE},
                                         "message_echoes": [echo, failed]}),
        wa_messages(statuses=[status("wamid.echo.1", "read", 5), status("wamid.echo.1", "delivered", 4),
                              status("wamid.echo.2", "failed", 6, errors=[{
                                  "code": 131047, "title": "Re-engagement message",
                                  "message": "Re-engagement message",
                                  "error_data": {"details": "Message failed to send because more than 24 hours "
                                                            "have passed since the customer last replied."}}])]),
    ])
    messages = by_id(conversation(browser, WA_ID))
    assert set(messages) == {"wamid.echo.1", "wamid.echo.2"}   # statuses are not messages of their own
    shipped, lost = messages["wamid.echo.1"], messages["wamid.echo.2"]
    assert shipped["direction"] == "outbound" and shipped["status"] == "read"   # a late "delivered" never undoes it
    assert shipped["pricing"]["category"] == "utility" and shipped["pricing"]["conversation_origin"] == "utility"
    assert lost["status"] == "failed"
    assert lost["error"]["code"] == 131047 and lost["error"]["title"] == "Re-engagement message"
    assert "24 hours" in lost["error"]["details"]


# ---- unknown kinds and malformed payloads -------------------------------------------------------

def test_kinds_without_a_handler_are_processed_with_a_note(server, settings, sql, owner):
    deliver(server.url, ig_entry(ig_in(1, optin={"ref": "newsletter"}), object="page", account=PAGE))
    deliver(server.url, {"object": "instagram", "entry": [{"id": IG, "time": 1, "changes": [
        {"field": "message_reactions_v2", "value": {"id": "x"}}]}]})
    drain(settings)
    assert sorted(sql("SELECT status, note FROM webhook_events")) == [
        ("processed", "no handler for instagram/message_reactions_v2"),
        ("processed", "no handler for messaging item optin")]


@pytest.mark.parametrize("payload, reason", [
    (ig_entry(ig_in(1, message={"text": "no mid"})), "MalformedEvent: a message has no mid"),
    (ig_entry(ig_in(1, reaction={"action": "react", "emoji": "x"})), "MalformedEvent: a reaction has no mid"),
    ({"object": "instagram", "entry": [{"id": IG, "changes": [{"field": "comments", "value": {"text": "hi"}}]}]},
     "MalformedEvent: a comments change has no id or comment_id"),
    (wa_messages({"from": WA_ID, "type": "text", "text": {"body": "no id"}}),
     "MalformedEvent: a WhatsApp message has no id"),
    (wa_messages(statuses=[{"status": "delivered", "timestamp": "1"}]), "MalformedEvent: a WhatsApp status has no id"),
    (wa_change("message_template_status_update", {"event": "APPROVED"}),
     "MalformedEvent: a template update has no message_template_id"),
], ids=["ig-message", "ig-reaction", "comment", "wa-message", "wa-status", "template"])
def test_a_payload_missing_metas_id_goes_to_dead_letter_at_once(server, settings, sql, owner, payload, reason):
    deliver(server.url, payload)
    drain(settings)   # the default settings would retry a failure three times
    status, attempts, errors = sql("SELECT status, attempts, errors FROM webhook_events")[0]
    assert (status, attempts) == ("dead_letter", 1)
    assert [e["message"] for e in errors] == [reason]
    assert sql("SELECT count(*) FROM messages") == [(0,)]
