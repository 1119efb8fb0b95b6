"""The silence banner's Check subscription button in a real browser (Chromium, as the dashboard tests drive it)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.live import consent
from tests.test_dashboard_browser import EMAIL, PASSWORD, chromium, log_in, page_factory  # noqa: F401 - fixtures
from tests.test_silence_alarm import _history
from webhook_app.accounts.store import PAGE_WEBHOOK_FIELDS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.sandbox]


def test_check_subscription_on_the_silence_banner_resubscribes_and_the_banner_goes(auth, browser, sandbox, sql,
                                                                                  page_factory):  # noqa: F811
    auth.register(EMAIL, PASSWORD)
    assert consent(browser, "/connect/meta").status_code == 302
    watched = next(p for p in browser.api("GET", "/api/pages").json()["pages"] if p["instagram"])
    assert browser.api("POST", f"/api/pages/{watched['id']}/select").status_code == 200
    sql("UPDATE webhook_subscriptions SET subscribed_at = now() - interval '10 days'")
    _history(sql, watched["page_id"], every_hours=3, until_hours_ago=8)
    sandbox.state.remove_subscriptions(watched["page_id"])

    page = page_factory()
    log_in(page)
    banner = page.locator('[data-warning="silence"]')
    expect(banner).to_contain_text("No webhooks from Sandbox Coffee House for 8 hours")
    banner.get_by_role("button", name="Check subscription").click()

    expect(page.locator('[data-warning="silence"]')).to_have_count(0)
    assert sandbox.state.pages[watched["page_id"]].subscribed_fields == list(PAGE_WEBHOOK_FIELDS)
    assert page.problems == []
