"""Replying from the conversation view in a real browser (SPEC 16): Chromium types into the reply box of the app,
served over HTTP, connected to the sandbox's accounts; the sender sends through the sandbox, whose status webhooks
come back to the app's receiver and move the ticks on the open page."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.support.inbox import drain
from tests.support.live import consent
from tests.support.webhooks import deliver
from tests.test_dashboard_browser import AXE, EMAIL, PASSWORD, chromium, page_factory, shot  # noqa: F401 (fixtures)
from webhook_app.outbound.sender import Sender
from webhook_app.webhooks.processor import Processor

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.sandbox]
WA_CUSTOMER, IG_CUSTOMER, FB_CUSTOMER, COMMENTER = "16505551234", "1254459154682919", "7001002003004005", "232323232"
STATUS_WAIT_MS = 15000   # queued → read: the sender's wake-up, the sandbox's call and its three status webhooks


class World:
    """A user with the sandbox's Page, Instagram account and WhatsApp number connected, and one conversation each."""

    def __init__(self, auth, browser, sandbox, server, settings, sql):
        self.browser, self.sandbox, self.server, self.settings, self.sql = browser, sandbox, server, settings, sql
        auth.register(EMAIL, PASSWORD)
        assert consent(browser, "/connect/meta").status_code == 302
        assert consent(browser, "/connect/whatsapp").status_code == 302
        state = sandbox.state
        self.waba = next(iter(state.wabas.values()))
        self.phone = self.waba.phone_numbers[0]["id"]
        self.page = next(p for p in state.pages.values() if p.ig_id)
        self.ig = self.page.ig_id
        state.seed_templates(self.waba.id, 1, status="REJECTED")
        assert browser.api("POST", "/api/templates/sync").status_code == 200

    def customer_writes(self, channel: str, text: str, *, ago_s: float = 60) -> int:
        """The customer's message arrives as Meta's webhook; returns the id of its conversation."""
        at = time.time() - ago_s
        mid = f"m.{channel}.{int(at * 1000)}"
        if channel == "whatsapp":
            payload = {"object": "whatsapp_business_account", "entry": [{"id": self.waba.id, "changes": [{
                "field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550101000", "phone_number_id": self.phone},
                    "contacts": [{"profile": {"name": "Maria Lopez"}, "wa_id": WA_CUSTOMER}],
                    "messages": [{"from": WA_CUSTOMER, "id": f"wamid.{mid}", "timestamp": str(int(at)), "type": "text",
                                  "text": {"body": text}}]}}]}]}
            contact = WA_CUSTOMER
        else:
            account, contact, kind = ((self.ig, IG_CUSTOMER, "instagram") if channel == "instagram"
                                      else (self.page.id, FB_CUSTOMER, "page"))
            payload = {"object": kind, "entry": [{"id": account, "time": int(at * 1000), "messaging": [{
                "sender": {"id": contact}, "recipient": {"id": account}, "timestamp": int(at * 1000),
                "message": {"mid": mid, "text": text}}]}]}
        assert deliver(self.server.url, payload).status_code == 200
        drain(self.settings)
        return self.conversation_of(contact)

    def comment_arrives(self, text: str, comment_id: str = "17865799348089039") -> int:
        payload = {"object": "instagram", "entry": [{"id": self.ig, "time": int(time.time()), "changes": [
            {"field": "comments", "value": {"from": {"id": COMMENTER, "username": "shopper.anna"},
                                            "media": {"id": "17866666", "media_product_type": "FEED"},
                                            "id": comment_id, "text": text}}]}]}
        assert deliver(self.server.url, payload).status_code == 200
        drain(self.settings)
        return self.conversation_of(COMMENTER)

    def conversation_of(self, contact: str) -> int:
        """Its conversation, once stored (by `drain`, or by the pipeline's processor that may have taken the event)."""
        deadline = time.monotonic() + 10
        while True:
            rows = self.sql("SELECT c.id FROM conversations c JOIN contacts t ON t.id = c.contact_id "
                            "WHERE t.external_id = %s AND c.last_inbound_at IS NOT NULL", (contact,))
            if rows or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(rows) == 1, rows
        return rows[0][0]

    def sandbox_sends(self, channel: str | None = None) -> list:
        """The send calls the sandbox received (of a channel: whatsapp, instagram, messenger, instagram_comment)."""
        answer = requests.get(f"{self.sandbox.url}/_sandbox/api/messaging/sends",
                              params={"channel": channel} if channel else {}, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["sends"]

    def outbound(self) -> list[tuple]:
        return self.sql("SELECT kind, status, body::text FROM outbound_messages ORDER BY id")


@pytest.fixture
def world(auth, browser, sandbox, server, settings, sql):
    return World(auth, browser, sandbox, server, settings, sql)


@pytest.fixture
def pipeline(settings, world):
    """Starts what `make run` runs beside the web app: the sender (replies to the sandbox) and the processor (the
    status webhooks the sandbox sends back), each following its queue in a thread of the test process."""
    running = []

    def start():
        processor = Processor(settings, workers=1, poll_interval=0.1)
        sender = Sender(settings, workers=1, poll_interval=0.1)
        for worker in (processor, sender):
            thread = threading.Thread(target=worker.run_follow, daemon=True)
            thread.start()
            running.append((worker, thread))

    yield start
    for worker, _thread in running:
        worker.stop_requested.set()
    for worker, thread in running:
        thread.join(10)
        worker.close()


def open_conversation(page, conversation_id: int) -> None:
    if "/auth/" in page.url or page.url in ("about:blank", ""):
        page.goto(f"/auth/login?next=/inbox/{conversation_id}")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"**/inbox/{conversation_id}")
    else:
        page.goto(f"/inbox/{conversation_id}")
    page.wait_for_function("() => document.querySelector('.inbox').dataset.loaded === 'true'")
    page.wait_for_selector('#live-state[data-state="on"]')


def mine(page, text: str):
    """Our reply with this text, as its bubble in the conversation."""
    return page.locator(".message.outbound", has=page.locator(".text", has_text=text))


def ticks(bubble):
    return bubble.locator(".bubble-meta .ticks")


def test_a_reply_typed_on_whatsapp_instagram_and_messenger_reaches_read(page_factory, world, pipeline):  # noqa: F811
    pipeline()
    page = page_factory(1440, 900)
    for channel, question, answer in (("whatsapp", "Where is my order?", "It left the shop today"),
                                      ("instagram", "Do you ship to Spain?", "Yes, in 3 days"),
                                      ("messenger", "Open on Sunday?", "From 10 to 4")):
        conversation = world.customer_writes(channel, question)
        open_conversation(page, conversation)
        box = page.get_by_label("Your reply")
        box.fill(answer)
        box.press("Shift+Enter")            # a new line, not a send
        box.type("Thanks!")
        assert mine(page, answer).count() == 0
        box.press("Enter")
        sent = mine(page, answer)
        expect(sent).to_have_count(1)       # drawn from the 202 answer, before the sender has done anything
        expect(box).to_have_value("")
        expect(box).to_be_focused()
        expect(sent.locator(".text")).to_have_text(f"{answer}\nThanks!")
        # The ticks follow the sender and the sandbox's status webhooks live, without a reload.
        expect(ticks(sent)).to_have_attribute("aria-label", "Read", timeout=STATUS_WAIT_MS)
        expect(ticks(sent)).to_have_text("✓✓")
        expect(ticks(sent)).to_have_class(re.compile(r"\bticks-read\b"))
        expect(page.locator("#reply-status")).to_have_text("Your message: Read")
        sends = world.sandbox_sends(channel)
        assert len(sends) == 1, sends   # sent once
        shot(page, f"reply-read-{channel}-1440px")
    assert [(kind, status) for kind, status, _body in world.outbound()] == [("text", "read")] * 3
    assert page.problems == []


def test_a_refusal_is_shown_next_to_the_box_and_keeps_the_text(page_factory, world, sql):  # noqa: F811
    conversation = world.customer_writes("whatsapp", "Where is my order?")
    page = page_factory(1440, 900)
    open_conversation(page, conversation)
    expect(page.locator("#reply-window")).to_have_text(re.compile(r"^Window closes in 23 h$"))
    expect(page.get_by_role("button", name="Use a template")).to_have_attribute("aria-expanded", "false")
    # The window closes while the page is open (the customer's message is now 25 hours old).
    sql("UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = %s", (conversation,))
    box = page.get_by_label("Your reply")
    box.fill("Are you still there?")
    box.press("Enter")
    expect(page.locator("#reply-error")).to_have_text(
        "The customer last wrote more than 24 hours ago: WhatsApp only allows a template now. Use a template.")
    expect(box).to_have_value("Are you still there?")
    assert world.outbound() == []
    # The page learnt the window is closed: the box says why, and the template picker is open.
    expect(page.locator("#reply-closed")).to_contain_text("only a template can be sent now")
    expect(box).to_be_disabled()
    expect(page.locator("#template-picker")).to_be_visible()
    expect(page.locator("#reply-window")).to_be_hidden()
    assert page.problems == []


def test_a_double_click_and_a_retry_after_a_network_error_send_once(page_factory, world):  # noqa: F811
    conversation = world.customer_writes("instagram", "Do you ship to Spain?")
    page = page_factory(1440, 900)
    open_conversation(page, conversation)
    box = page.get_by_label("Your reply")
    box.fill("Yes, in 3 days")
    # The conversation cannot be re-read meanwhile: the bubble comes from the 202 answer itself.
    detail = re.compile(r"/api/conversations/\d+$")
    page.route(detail, lambda route: route.abort())
    page.get_by_role("button", name="Send", exact=True).dblclick()
    expect(mine(page, "Yes, in 3 days")).to_have_count(1)
    expect(ticks(mine(page, "Yes, in 3 days"))).to_have_attribute("aria-label", "Queued")   # no sender running
    expect(page.locator("#reply-status")).to_have_text("Your message: Queued")
    expect(box).to_have_value("")
    assert [row[0] for row in world.outbound()] == ["text"]
    page.unroute(detail)

    # The answer to the next send is lost on the way back (the server queued it): sent again, it is the same message.
    keys = []
    lost = {"done": False}

    def lose_the_answer(route, request):
        keys.append(request.headers.get("idempotency-key"))
        if not lost["done"]:
            lost["done"] = True
            route.fetch()      # it reaches the server...
            route.abort("connectionreset")   # ...and the browser hears nothing back
        else:
            route.continue_()

    page.route(re.compile(r"/api/conversations/\d+/messages$"), lose_the_answer)
    box.fill("And to Portugal too")
    box.press("Enter")
    expect(page.locator("#reply-error")).to_contain_text("could not be reached")
    expect(box).to_have_value("And to Portugal too")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(mine(page, "And to Portugal too")).to_have_count(1)
    assert len(keys) == 2 and keys[0] == keys[1] and re.fullmatch(r"[0-9a-f-]{36}", keys[0])
    assert [json.loads(row[2])["text"] for row in world.outbound()] == ["Yes, in 3 days", "And to Portugal too"]
    assert page.problems == []


def test_a_whatsapp_template_from_the_picker_with_its_variables(page_factory, world, pipeline):  # noqa: F811
    conversation = world.customer_writes("whatsapp", "Hello?", ago_s=2 * 86400)   # the window closed a day ago
    pipeline()
    page = page_factory(1440, 900)
    open_conversation(page, conversation)
    expect(page.locator("#reply-closed")).to_have_text(
        "The customer last wrote more than 24 hours ago: only a template can be sent now.")
    expect(page.get_by_label("Your reply")).to_be_disabled()
    picker = page.locator("#template-picker")
    expect(picker).to_be_visible()   # offered at once: it is the only way to answer now
    choice = page.get_by_label("Template", exact=True)
    # Only APPROVED templates: the sandbox's three, not the REJECTED fourth.
    expect(choice.locator("option")).to_have_text(["Choose a template", "sandbox_template_1 (en_US) · marketing",
                                                   "sandbox_template_2 (en_US) · utility",
                                                   "sandbox_template_3 (en_US) · authentication"])
    choice.select_option(label="sandbox_template_2 (en_US) · utility")
    preview = page.locator("#template-preview")
    expect(preview.locator(".template-header")).to_have_text("Update 2")
    expect(preview.locator(".template-body")).to_have_text("Hello {{1}}, your order {{2}} is ready.")
    page.get_by_label("Variable {{1}}").fill("Maria")
    expect(preview.locator(".template-body")).to_have_text("Hello Maria, your order {{2}} is ready.")
    page.get_by_role("button", name="Send template").click()
    expect(page.locator("#template-error")).to_contain_text("Fill in Variable {{2}}")
    expect(page.get_by_label("Variable {{2}}")).to_be_focused()
    page.get_by_label("Variable {{2}}").fill("#1042")
    expect(preview.locator(".template-body")).to_have_text("Hello Maria, your order #1042 is ready.")
    page.get_by_role("button", name="Send template").click()
    sent = mine(page, "Hello Maria, your order #1042 is ready.")
    expect(sent).to_have_count(1)
    expect(sent.locator(".template-name")).to_have_text("Template sandbox_template_2 (en_US)")
    expect(ticks(sent)).to_have_attribute("aria-label", "Read", timeout=STATUS_WAIT_MS)
    [(kind, status, body)] = world.outbound()
    assert kind == "template" and status == "read" and json.loads(body)["template"] == {
        "name": "sandbox_template_2", "language": "en_US", "variables": ["Maria", "#1042"]}
    # What reached WhatsApp: the template with its two body parameters, in that order.
    [call] = world.sandbox_sends("whatsapp")
    assert call["body"]["template"]["name"] == "sandbox_template_2"
    parameters = [p["text"] for c in call["body"]["template"]["components"] if c["type"] == "body"
                  for p in c["parameters"]]
    assert parameters == ["Maria", "#1042"]
    # After a reload the bubble still reads as the customer reads it.
    page.reload()
    expect(mine(page, "Hello Maria, your order #1042 is ready.")).to_have_count(1)
    assert page.problems == []


def test_comment_threads_reply_publicly_and_privately(page_factory, world, pipeline):  # noqa: F811
    thread = world.comment_arrives("How much is it?")
    pipeline()
    page = page_factory(390, 844)
    open_conversation(page, thread)
    expect(page.locator("#reply-closed")).to_have_text("Choose Reply or Reply privately under a comment to answer it.")
    expect(page.get_by_label("Your reply")).to_be_disabled()
    comment = page.locator(".message.inbound.kind-comment")
    comment.get_by_role("button", name="Reply publicly to “How much is it?”").click()
    box = page.get_by_label("Your reply")
    expect(box).to_be_focused()
    expect(page.locator("#reply-context")).to_contain_text("Public reply to “How much is it?”")
    box.fill("29 EUR, in three colours")
    box.press("Enter")
    public = mine(page, "29 EUR, in three colours")
    expect(public).to_have_count(1)
    expect(ticks(public)).to_have_attribute("aria-label", "Sent", timeout=STATUS_WAIT_MS)  # a comment is never "read"
    expect(page.locator("#reply-context")).to_be_hidden()
    comment.get_by_role("button", name="Reply privately to “How much is it?”").click()
    expect(page.locator("#reply-context")).to_contain_text("Private reply to “How much is it?”")
    box.fill("I sent you the colour chart")
    box.press("Enter")
    expect(page.locator("#reply-context")).to_be_hidden()
    private = mine(page, "I sent you the colour chart")
    expect(private).to_have_count(1)
    expect(ticks(private)).to_have_attribute("aria-label", re.compile("Sent|Delivered|Read"), timeout=STATUS_WAIT_MS)
    assert [(kind, json.loads(body)["text"]) for kind, _status, body in world.outbound()] == [
        ("comment_reply", "29 EUR, in three colours"), ("private_reply", "I sent you the colour chart")]
    shot(page, "reply-comments-390px")
    calls = world.sandbox_sends()
    assert [call["channel"] for call in calls] == ["instagram_comment", "instagram_private_reply"], calls
    assert calls[0]["path"].endswith("/17865799348089039/replies")
    assert calls[1]["body"]["recipient"] == {"comment_id": "17865799348089039"}
    assert page.problems == []


def _queue_text(world, conversation: int, text: str) -> int:
    answer = world.browser.api("POST", f"/api/conversations/{conversation}/messages", json={"text": text})
    assert answer.status_code == 202, answer.text
    return answer.json()["message"]["id"]


def _set_state(sql, outbound_id: int, status: str, error: dict | None = None) -> None:
    """What the sender leaves behind: `unknown` (it died during Meta's call), `failed` (Meta refused)."""
    sql("UPDATE outbound_messages SET status = %s, error = %s, attempts = 1, status_at = now() WHERE id = %s",
        (status, json.dumps(error) if error else None, outbound_id))


def test_an_unknown_message_is_marked_not_sent_and_sent_again(page_factory, world, sql, pipeline):  # noqa: F811
    conversation = world.customer_writes("messenger", "Is the shop open on Sunday?")
    first = _queue_text(world, conversation, "Yes, from 10 to 4")
    second = _queue_text(world, conversation, "And on holidays too")
    _set_state(sql, first, "unknown")
    _set_state(sql, second, "unknown")
    pipeline()   # an `unknown` message is never sent on its own: only when the user says it was not sent
    page = page_factory(1440, 900)
    open_conversation(page, conversation)
    unsure = mine(page, "Yes, from 10 to 4")
    expect(unsure.locator(".ticks")).to_have_attribute("aria-label", "Not known whether it was sent")
    notice = unsure.locator(".unknown-notice")
    expect(notice).to_contain_text("we cannot tell whether the customer got this message")
    time.sleep(0.5)   # the sender had time to (wrongly) send it
    assert world.sandbox_sends("messenger") == []
    notice.get_by_role("button", name="Mark as not sent and retry").click()
    expect(unsure.locator(".unknown-notice")).to_have_count(0)
    expect(ticks(unsure)).to_have_attribute("aria-label", "Read", timeout=STATUS_WAIT_MS)
    assert [call["body"]["message"]["text"] for call in world.sandbox_sends("messenger")] == ["Yes, from 10 to 4"]
    # The other one the user knows arrived (the customer answered it): it was sent, and it is not sent again.
    other = mine(page, "And on holidays too")
    other.get_by_role("button", name="It was sent").click()
    expect(ticks(other)).to_have_attribute("aria-label", "Sent")
    assert sql("SELECT status FROM outbound_messages WHERE id = %s", (second,)) == [("sent",)]
    assert len(world.sandbox_sends("messenger")) == 1   # the one the user said was sent is not sent again
    assert page.problems == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_reply_box_is_accessible_in_both_themes_and_at_phone_width(chromium, server, world, sql, scheme):  # noqa: F811
    """axe-core (WCAG 2.2 A/AA) on a conversation with the reply box, the template picker, a failed and an unknown
    reply: no serious or critical violation; and screenshots at 390 and 1440 px."""
    assert AXE.exists(), "axe-core is missing: `make test` installs it from package.json"
    conversation = world.customer_writes("whatsapp", "Can I change the address?", ago_s=3600)
    failed = _queue_text(world, conversation, "Sure, send me the new one")
    unsure = _queue_text(world, conversation, "Got it, changed")
    _set_state(sql, failed, "failed", {"code": 131026, "title": "Message undeliverable",
                                       "message": "The recipient's phone number is not on WhatsApp."})
    _set_state(sql, unsure, "unknown")
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, base_url=server.url, bypass_csp=True,
                                   color_scheme=scheme)
    try:
        page = context.new_page()
        open_conversation(page, conversation)
        expect(mine(page, "Sure, send me the new one").locator(".send-error")).to_have_text(
            "Not sent: Message undeliverable (code 131026). The recipient's phone number is not on WhatsApp.")
        expect(page.locator("#reply-window")).to_have_text("Window closes in 22 h")
        page.get_by_role("button", name="Use a template").click()
        expect(page.get_by_role("button", name="Hide the template picker")).to_have_attribute("aria-expanded", "true")
        page.get_by_label("Template", exact=True).select_option(label="sandbox_template_1 (en_US) · marketing")
        page.get_by_label("Variable {{1}}").fill("Maria")
        page.get_by_label("Your reply").fill("x" * 3900)   # near WhatsApp's 4,096: the counter shows
        expect(page.locator("#reply-count")).to_have_text("3900 / 4096")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})""")
        serious = [f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['html'][:120]})"
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], json.dumps(serious, indent=1)
        for width, height in ((1440, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            shot(page, f"reply-{scheme}-{width}px")
            # Nothing of the reply box is cut off or pushes the page sideways at this width.
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    finally:
        context.close()


def test_the_window_counts_down_and_closing_offers_the_templates(page_factory, world):  # noqa: F811
    conversation = world.customer_writes("whatsapp", "Still open?", ago_s=24 * 3600 - 150)
    page = page_factory(1440, 900)
    page.clock.install()   # the page's clock, moved on by the test; the server keeps real time
    open_conversation(page, conversation)
    expect(page.locator("#reply-window")).to_have_text("Window closes in 2 min")
    expect(page.get_by_label("Your reply")).to_be_enabled()
    page.clock.fast_forward("01:00")
    expect(page.locator("#reply-window")).to_have_text("Window closes in 1 min")
    page.clock.fast_forward("02:00")
    expect(page.locator("#reply-window")).to_be_hidden()
    expect(page.locator("#reply-closed")).to_contain_text("WhatsApp lets you send only an approved template")
    expect(page.get_by_label("Your reply")).to_be_disabled()
    expect(page.locator("#template-picker")).to_be_visible()
    assert page.problems == []


def test_an_attachment_by_url_with_a_caption_and_without(page_factory, world, pipeline):  # noqa: F811
    pipeline()
    photo = "https://shop.example/photos/blue-mug.jpg"
    whatsapp = world.customer_writes("whatsapp", "A photo of the blue one?")
    page = page_factory(390, 844)
    open_conversation(page, whatsapp)
    page.get_by_text("Attach a file by its URL").click()
    page.get_by_label("Type").select_option("image")
    page.get_by_label("Address (https://…)").fill("not a link")
    page.get_by_label("Your reply").fill("Here it is")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#reply-error")).to_have_text("The attachment's address must be a full https:// URL.")
    page.get_by_label("Address (https://…)").fill(photo)
    page.get_by_role("button", name="Send", exact=True).click()
    sent = mine(page, "Here it is")      # WhatsApp: one message, the text as the image's caption
    expect(sent.locator(".attachment")).to_have_attribute("href", photo)
    expect(ticks(sent)).to_have_attribute("aria-label", "Read", timeout=STATUS_WAIT_MS)
    [call] = world.sandbox_sends("whatsapp")
    assert call["body"]["type"] == "image" and call["body"]["image"] == {"link": photo, "caption": "Here it is"}

    instagram = world.customer_writes("instagram", "And on Instagram?")
    open_conversation(page, instagram)
    page.get_by_text("Attach a file by its URL").click()
    page.get_by_label("Address (https://…)").fill(photo)
    page.get_by_label("Your reply").fill("Same photo")
    page.get_by_label("Your reply").press("Enter")
    # Instagram shows no caption: the picture, then the text as a message of its own.
    expect(page.locator(f'.message.outbound .attachment[href="{photo}"]')).to_have_count(1)
    expect(mine(page, "Same photo")).to_have_count(1)
    expect(page.get_by_label("Your reply")).to_have_value("")
    expect(page.get_by_label("Address (https://…)")).to_have_value("")
    calls = world.sandbox_sends("instagram")
    deadline = time.monotonic() + STATUS_WAIT_MS / 1000
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        calls = world.sandbox_sends("instagram")
    assert [c["body"]["message"].get("attachment", {}).get("payload", {}).get("url") or c["body"]["message"]["text"]
            for c in calls] == [photo, "Same photo"]
    assert page.problems == []


def test_meta_refusing_a_reply_shows_its_error_on_the_bubble(page_factory, world, pipeline):  # noqa: F811
    pipeline()
    conversation = world.customer_writes("whatsapp", "Can you call me?")
    fault = requests.post(f"{world.sandbox.url}/_sandbox/api/messaging/faults",
                          json={"code": 131026, "channel": "whatsapp", "times": 1}, timeout=10)
    assert fault.status_code == 200, fault.text
    page = page_factory(1440, 900)
    open_conversation(page, conversation)
    box = page.get_by_label("Your reply")
    box.fill("Calling you at 5")
    box.press("Enter")
    sent = mine(page, "Calling you at 5")
    expect(ticks(sent)).to_have_attribute("aria-label", "Not sent", timeout=STATUS_WAIT_MS)
    expect(ticks(sent)).to_have_text("!")
    expect(sent.locator(".send-error")).to_have_text("Not sent: Message undeliverable (code 131026).")
    expect(page.locator("#reply-status")).to_have_text("Your message: Not sent")
    assert world.outbound()[0][1] == "failed"
    assert page.problems == []
