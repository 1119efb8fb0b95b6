"""The dashboard in a real browser: Playwright driving Debian's Chromium against the app over HTTP."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.rows import insert_event, insert_interaction, user_id
from tests.support.webhooks import deliver

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # drives Chromium

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
EMAIL, PASSWORD = "owner@example.com", "correct horse"
REFRESH_WAIT_MS = 15000  # the page refreshes every 10 s


@pytest.fixture(scope="module")
def chromium():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"Chromium not found at {CHROMIUM}: install Debian's chromium package"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI must run the browser tests, never skip them
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def owner(auth, sql):
    auth.register(EMAIL, PASSWORD)
    return user_id(sql, EMAIL)


@pytest.fixture
def page_factory(chromium, server):
    """New pages, each in its own context, that record requests and console errors."""
    contexts = []

    def make(width: int = 1280, height: int = 900):
        context = chromium.new_context(viewport={"width": width, "height": height}, base_url=server.url)
        contexts.append(context)
        page = context.new_page()
        page.requests = []
        page.problems = []
        page.on("request", lambda request: page.requests.append(request.url))
        # Script errors and CSP refusals; a 404 is how the page learns another area is not installed.
        page.on("console", lambda msg: msg.type == "error" and not msg.text.startswith("Failed to load resource")
                and page.problems.append(msg.text))
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before delete / bulk retry
        return page

    yield make
    for context in contexts:
        context.close()


def log_in(page):
    page.goto("/auth/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    page.wait_for_selector("#refreshed:has-text('Updated')")


def shot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def row(page, event_id: int):
    return page.locator(f'#events-body tr[data-event-id="{event_id}"]')


def test_cards_chart_filter_details_and_retry(page_factory, owner, sql, server):
    for _ in range(3):
        insert_event(sql, owner, status="processed", object="instagram", field="comments")
    insert_event(sql, owner, status="pending", object="page", field="feed")
    failed = insert_event(sql, owner, status="failed", object="whatsapp_business_account", field="messages",
                          attempts=2, payload={"id": "waba-1", "changes": [{"field": "messages", "value": {"x": 1}}]},
                          errors=[{"attempt": 1, "at": "2025-01-01T00:00:01Z", "message": "KeyError: 'contacts'"},
                                  {"attempt": 2, "at": "2025-01-01T00:00:06Z", "message": "KeyError: 'contacts'"}])
    insert_interaction(sql, owner, external_id="mid-1", text="Do you ship to Lisbon?")
    page = page_factory()
    log_in(page)

    # The cards count by status; the chart drew this minute's six arrivals.
    assert page.locator('[data-count="processed"]').inner_text() == "3"
    assert page.locator('[data-count="failed"]').inner_text() == "1"
    assert page.locator("#received-24h").inner_text() == "5"
    assert page.locator("#events-chart polyline").count() == 3
    assert page.locator("#events-chart").get_attribute("data-total-received") == "5"
    assert page.locator("#events-chart-max").inner_text().startswith("5")
    assert page.locator("#events-body tr").count() == 5
    assert "Do you ship to Lisbon?" in page.locator("#inbox-list").inner_text()
    shot(page, "dashboard-desktop")

    # Filter by status.
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page.locator("#events-body tr")).to_have_count(1)
    assert row(page, failed).is_visible()

    # Open the event: payload pretty-printed, error history, Retry.
    row(page, failed).get_by_role("button", name="Details").click()
    dialog = page.locator("#event-detail")
    dialog.wait_for(state="visible")
    assert '"field": "messages"' in page.locator("#detail-payload").inner_text()
    assert page.locator("#detail-errors li").count() == 2
    assert "KeyError: 'contacts'" in page.locator("#detail-errors").inner_text()
    shot(page, "event-detail", full_page=False)
    dialog.get_by_role("button", name="Retry", exact=True).click()
    page.wait_for_selector('#event-detail[data-status="pending"]')
    assert "Pending" in page.locator("#detail-facts").inner_text()
    assert page.locator("#detail-retry").is_disabled()
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (failed,))[0][0] == "pending"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    # No longer failed: it leaves the "failed" list, the card follows, and without the filter it is pending.
    row(page, failed).wait_for(state="detached")
    expect(page.locator('[data-count="failed"]')).to_have_text("0")
    expect(page.locator('[data-count="pending"]')).to_have_text("2")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#events-body tr")).to_have_count(5)
    assert row(page, failed).get_attribute("data-status") == "pending"

    assert all(url.startswith(server.url) for url in page.requests), "a request left the machine"
    assert page.problems == []  # no script errors, no CSP violations


def test_delete_from_the_details_view(page_factory, owner, sql):
    doomed = insert_event(sql, owner, status="dead_letter")
    kept = insert_event(sql, owner, status="processed")
    page = page_factory()
    log_in(page)
    row(page, doomed).get_by_role("button", name="Details").click()
    page.locator("#event-detail").get_by_role("button", name="Delete").click()
    row(page, doomed).wait_for(state="detached")
    assert row(page, kept).is_visible()
    assert sql("SELECT count(*) FROM webhook_events WHERE id = %s", (doomed,))[0][0] == 0
    assert page.locator("#flash").inner_text() == f"Event #{doomed} deleted."
    assert page.problems == []


def test_a_new_webhook_appears_without_reloading(page_factory, owner, sql, server):
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES ('ig-owned', %s, 'instagram')", (owner,))
    earlier = insert_event(sql, owner, status="processed")
    page = page_factory()
    log_in(page)
    page.evaluate("window.notReloaded = true")
    assert page.locator("#events-body tr").count() == 1
    row(page, earlier).get_by_role("button", name="Details").focus()

    # Meta's delivery, signed, through the real receiver (no processor runs here: it stays pending).
    mention = {"object": "instagram", "entry": [{"id": "ig-owned", "time": 1700000000, "changes": [
        {"field": "mentions", "value": {"media_id": "m-1", "comment_id": "c-1"}}]}]}
    assert deliver(server.url, mention).status_code == 200
    arrived = sql("SELECT id FROM webhook_events WHERE user_id = %s AND field = 'mentions'", (owner,))[0][0]
    row(page, arrived).wait_for(timeout=REFRESH_WAIT_MS)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#events-body tr").first.get_attribute("data-event-id") == str(arrived)
    # The refresh left the row the keyboard was on alone: focus did not jump away.
    assert page.evaluate("document.activeElement.closest('tr').dataset.eventId") == str(earlier)
    page.wait_for_selector('[data-count="pending"]:text-is("1")', timeout=REFRESH_WAIT_MS)
    assert page.problems == []


def test_phone_width_and_keyboard(page_factory, owner, sql):
    failed = insert_event(sql, owner, status="failed", field="comments",
                          errors=[{"attempt": 1, "at": "2025-01-01T00:00:01Z", "message": "boom"}])
    insert_event(sql, owner, status="processed")
    insert_interaction(sql, owner, external_id="mid-phone", text="A message read on a phone")
    sql("WITH m AS (INSERT INTO meta_accounts (user_id, meta_user_id, name) VALUES (%s, '1001', 'Shop Owner') "
        "RETURNING id, user_id) INSERT INTO credentials (user_id, kind, account_id, token_kind, status) "
        "SELECT user_id, 'meta', id, 'long_lived_user', 'needs_reauth' FROM m", (owner,))
    page = page_factory(width=375, height=812)
    log_in(page)

    banner = page.locator("#reauth-banners .banner")
    assert "Shop Owner (facebook) needs re-authorization" in banner.inner_text()
    assert banner.get_by_role("link", name="Reconnect").get_attribute("href") == "/connect/meta"
    disconnect = page.get_by_role("button", name="Disconnect Shop Owner").bounding_box()
    assert disconnect["x"] + disconnect["width"] <= 375

    # Nothing wider than the screen: no sideways scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator('[data-count="failed"]').is_visible()
    assert page.locator("#events-chart").bounding_box()["width"] <= 375
    shot(page, "dashboard-375px")

    # Every control has a label a screen reader can read out.
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('main input, main select, main button')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
        .map(el => el.outerHTML)""")
    assert unlabeled == []

    # The keyboard alone opens an event and closes it again.
    details = row(page, failed).get_by_role("button", name="Details")
    box = details.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375  # reachable without sideways scrolling
    details.focus()
    page.keyboard.press("Enter")
    page.locator("#event-detail").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "detail-close"
    assert page.locator("#event-detail").bounding_box()["width"] <= 375
    shot(page, "event-detail-375px", full_page=False)
    page.keyboard.press("Enter")  # on the focused Close button
    page.locator("#event-detail").wait_for(state="hidden")
    assert page.problems == []
