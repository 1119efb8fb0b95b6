"""The open Inbox pages follow the live stream: a delivery through the receiver shows without a reload."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.inbox import IG, connect_ids, drain, ig_entry, ig_item
from tests.support.rows import user_id
from tests.support.webhooks import deliver
from tests.test_dashboard_browser import EMAIL, LIVE_WAIT_MS, PASSWORD, chromium, page_factory, shot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ANNA, BORIS = "1254459154682919", "6612001234567890"


def open_page(page, path: str) -> None:
    page.goto(f"/auth/login?next={path}")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{path}")
    page.wait_for_selector('#live-state[data-state="on"]')
    page.wait_for_function("() => document.querySelector('.inbox').dataset.loaded === 'true'")
    page.evaluate("window.notReloaded = true")


def send(server, settings, sender: str, mid: str, text: str, ts: int) -> None:
    """One Instagram message (Meta's messaging webhook shape), signed and sent to the receiver, then processed."""
    assert deliver(server.url, ig_entry(ig_item(sender, IG, ts, message={"mid": mid, "text": text}))).status_code == 200
    drain(settings)  # the processor stores the message and announces the batch on live_updates


def test_a_delivery_appears_on_the_open_inbox_list_and_conversation_without_reloading(
        page_factory, auth, sql, server, settings):  # noqa: F811
    auth.register(EMAIL, PASSWORD)
    connect_ids(sql, user_id(sql, EMAIL))
    send(server, settings, ANNA, "m.first", "Is the shop open today?", 1733000000000)

    listing = page_factory(1440, 900)
    open_page(listing, "/inbox")
    expect(listing.locator(".conversation")).to_have_count(1)

    # A new customer writes: the list gains the conversation, on top, with its preview and unread badge.
    send(server, settings, BORIS, "m.boris", "Do you ship to Lyon?", 1733000100000)
    newest = listing.locator(".conversation").first
    expect(newest.locator(".conversation-preview")).to_have_text("Do you ship to Lyon?", timeout=LIVE_WAIT_MS)
    expect(listing.locator(".conversation")).to_have_count(2)
    expect(newest.locator(".unread-badge")).to_have_text("1")
    assert listing.evaluate("window.notReloaded") is True

    # The open conversation view: Anna's next message shows under the first one.
    conversation = page_factory(390, 844)
    anna = sql("SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id "
               "WHERE k.external_id = %s", (ANNA,))[0][0]
    open_page(conversation, f"/inbox/{anna}")
    expect(conversation.locator(".message")).to_have_count(1)
    send(server, settings, ANNA, "m.second", "And tomorrow?", 1733000200000)
    expect(conversation.locator(".message")).to_have_count(2, timeout=LIVE_WAIT_MS)
    expect(conversation.locator('.message[data-id="m.second"] .text')).to_have_text("And tomorrow?")
    assert conversation.evaluate("window.notReloaded") is True
    assert re.search(r"/inbox/\d+$", conversation.url)
    # The list saw Anna's message too: her conversation moved back on top.
    expect(listing.locator(".conversation").first.locator(".conversation-preview")).to_have_text(
        "And tomorrow?", timeout=LIVE_WAIT_MS)
    assert listing.locator("#live-state").inner_text() == "Live"
    shot(listing, "inbox-live-1440px")
    shot(conversation, "inbox-live-conversation-390px")
    assert listing.problems == [] and conversation.problems == []
