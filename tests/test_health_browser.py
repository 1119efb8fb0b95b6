"""The Health page in Chromium: deliveries no account owns, and the Graph API version with its end of life."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from tests.support.inbox import drain
from tests.support.webhooks import deliver
from tests.test_dashboard_browser import chromium, go, log_in, owner, page_factory, shot  # noqa: F401 (fixtures)
from webhook_app.sandbox import samples

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.sandbox]


def test_health_page_shows_unowned_deliveries_and_the_graph_versions_end(page_factory, app, owner, sandbox,  # noqa: F811
                                                                        server, settings):
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(meta_graph_version="v24.0")
    app.config["CLOCK"] = lambda: datetime(2027, 12, 1, tzinfo=timezone.utc)
    for object_id in ("17841499999999991", "17841499999999992", "17841499999999992"):
        assert deliver(server.url, samples.build(sandbox.state, "instagram_message", object_id=object_id)).status_code == 200
    assert deliver(server.url, samples.build(sandbox.state, "whatsapp_message")).status_code == 200
    drain(settings)

    for width, height in ((1440, 900), (390, 844)):
        for scheme in ("light", "dark"):
            page = page_factory(width, height)
            page.emulate_media(color_scheme=scheme)
            log_in(page)
            go(page, "/health")
            unowned = page.locator("#unowned-facts")
            expect(unowned).to_contain_text("4 deliveries for 3 ids (Instagram 3, WhatsApp 1)")
            expect(unowned).to_contain_text("Handed to you")
            expect(page.locator("#graph-version")).to_have_text("v24.0")
            expect(page.locator("#graph-end")).to_have_text("2028-02-18 (in 79 days)")
            warning = page.locator("#graph-warning")
            expect(warning).to_be_visible()
            expect(warning).to_contain_text("stops working on 2028-02-18 (79 days from now)")
            expect(warning).to_contain_text("Set META_GRAPH_VERSION to v26.0")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            shot(page, f"health-{scheme}-{width}px")
            assert page.problems == []

    # With the newest version there is nothing to warn about, and no date announced yet.
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(meta_graph_version="v26.0")
    go(page, "/health")
    expect(page.locator("#graph-end")).to_have_text("not announced yet")
    expect(page.locator("#graph-warning")).to_be_hidden()
