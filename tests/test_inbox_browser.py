"""The inbox in a real browser: Chromium reads a conversation with an attachment, a reaction and a reply."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.inbox import IG, connect_ids, drain, ig_entry, ig_item
from tests.support.rows import user_id
from tests.support.webhooks import deliver
from tests.test_dashboard_browser import EMAIL, PASSWORD, chromium, page_factory  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.sandbox]
CUSTOMER = "1254459154682919"


def log_in(page, next_path: str) -> None:
    page.goto(f"/auth/login?next={next_path}")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_path}")


def test_reading_a_conversation_with_an_attachment_a_reaction_and_a_reply(page_factory, auth, sql, server,  # noqa: F811
                                                                          settings, sandbox):
    auth.register(EMAIL, PASSWORD)
    connect_ids(sql, user_id(sql, EMAIL))
    photo = f"{sandbox.url}/cdn/ig_messaging_cdn/asset-1.png"
    deliver(server.url, ig_entry(
        ig_item(CUSTOMER, IG, 1733000000000, message={"mid": "m.photo", "attachments": [
            {"type": "image", "payload": {"url": photo}}]}),
        ig_item(CUSTOMER, IG, 1733000001000, message={"mid": "m.reply", "text": "Do you have it in blue?",
                                                      "reply_to": {"mid": "m.photo"}}),
        ig_item(IG, CUSTOMER, 1733000002000, message={"mid": "m.answer", "text": "Yes, from Monday",
                                                      "is_echo": True}),
        ig_item(CUSTOMER, IG, 1733000003000, reaction={"mid": "m.answer", "action": "react", "reaction": "love",
                                                       "emoji": "\u2764\ufe0f"}),
        ig_item(CUSTOMER, IG, 1733000004000, read={"mid": "m.answer"})))
    drain(settings)

    page = page_factory()
    log_in(page, "/inbox")
    item = page.locator(".conversation").first
    expect(item.locator(".conversation-name")).to_have_text("Instagram user 2919")
    expect(item.locator(".conversation-preview")).to_have_text("You: Yes, from Monday")
    expect(item.locator(".unread-badge")).to_have_text("2")
    expect(item.locator(".channel")).to_have_text("Instagram")

    item.locator("a").click()
    page.wait_for_url(re.compile(r"/inbox/\d+$"))
    expect(page.locator("#conversation-title")).to_have_text("Instagram user 2919")
    messages = page.locator(".message")
    expect(messages).to_have_count(3)
    # The attachment-only message shows its picture, loaded from Meta's CDN (here the sandbox's).
    thumb = page.locator('.message[data-id="m.photo"] img.thumb')
    expect(thumb).to_have_attribute("src", photo)
    page.wait_for_function("() => { const i = document.querySelector('.message[data-id=\"m.photo\"] img.thumb');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    # The reply quotes what it answers; the reaction sits on our message, which the customer has read.
    reply = page.locator('.message[data-id="m.reply"]')
    expect(reply.locator(".quoted")).to_have_text("Photo")
    expect(reply.locator(".text")).to_have_text("Do you have it in blue?")
    answer = page.locator('.message[data-id="m.answer"]')
    expect(answer).to_have_class(re.compile(r"\boutbound\b"))
    expect(answer.locator(".reaction")).to_have_text("\u2764\ufe0f")
    expect(answer.locator(".ticks")).to_have_attribute("aria-label", "Read")
    assert page.problems == []

    # Opening it marked it read: back in the list, the badge is gone.
    page.wait_for_function("() => document.querySelector('.inbox').dataset.loaded === 'true'")
    page.goto("/inbox")
    expect(page.locator(".conversation").first.locator(".conversation-name")).to_have_text("Instagram user 2919")
    page.wait_for_function("() => document.querySelector('.inbox').dataset.loaded === 'true'")
    expect(page.locator(".unread-badge")).to_have_count(0)

    # Screenshots of the conversation, light and dark, at phone and desktop width (test-artifacts/).
    from tests.test_dashboard_browser import shot

    for width, height in ((390, 844), (1440, 900)):
        for scheme in ("light", "dark"):
            page.set_viewport_size({"width": width, "height": height})
            page.emulate_media(color_scheme=scheme)
            page.goto("/inbox")
            page.locator(".conversation a").first.click()
            page.wait_for_url(re.compile(r"/inbox/\d+$"))
            expect(page.locator(".message")).to_have_count(3)
            shot(page, f"inbox-conversation-{scheme}-{width}px")
