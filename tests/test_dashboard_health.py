"""The Health page's facts over the API: deliveries no account owns (SPEC 7) and the Graph API version's end of life."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support.inbox import drain
from tests.support.live import consent
from tests.support.webhooks import deliver
from webhook_app.sandbox import samples

STRAY_IG = "17841499999999999"   # an Instagram account subscribed to the app but connected by nobody here


def health(browser) -> dict:
    answer = browser.api("GET", "/api/webhook-health")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.sandbox
def test_unknown_owner_deliveries_are_counted_and_leave_the_count_when_their_account_is_connected(
        auth, browser, sandbox, server, settings, sql):
    # Meta's shapes, from the sandbox's samples: two Instagram messages for the sandbox's account (not connected
    # yet), one for a stray account, and a WhatsApp message for a WhatsApp Business account nobody connected.
    for text in ("First, before you connected", "Second, before you connected"):
        assert deliver(server.url, samples.build(sandbox.state, "instagram_message", text=text)).status_code == 200
    assert deliver(server.url, samples.build(sandbox.state, "instagram_message", object_id=STRAY_IG)).status_code == 200
    assert deliver(server.url, samples.build(sandbox.state, "whatsapp_message")).status_code == 200
    drain(settings)

    auth.register("other@example.com")
    seen_by_other = health(browser)["unknown_owner"]
    auth.logout()
    auth.register()
    before = health(browser)
    assert before["unknown_owner"]["count"] == 4
    assert before["unknown_owner"]["ids"] == 3
    assert before["unknown_owner"]["by_object"] == {"instagram": 3, "whatsapp_business_account": 1}
    assert before["unknown_owner"]["last_received_at"] is not None
    assert before["arrived_before_connect"]["count"] == 0
    assert seen_by_other == before["unknown_owner"]  # service-wide counts: no one's ids, the same for everyone
    assert STRAY_IG not in browser.api("GET", "/api/webhook-health").text

    assert consent(browser, "/connect/meta").status_code == 302  # the sandbox's Instagram account: handed over
    drain(settings)
    after = health(browser)
    assert after["unknown_owner"]["count"] == 2
    assert after["unknown_owner"]["by_object"] == {"instagram": 1, "whatsapp_business_account": 1}
    assert after["arrived_before_connect"]["count"] == 2
    assert after["arrived_before_connect"]["last_handed_over_at"] is not None

    auth.logout()
    auth.login("other@example.com")
    assert health(browser)["arrived_before_connect"]["count"] == 0  # the hand-over is the connecting user's own


def test_no_unknown_owner_deliveries_reads_as_zero(auth, browser):
    auth.register()
    assert health(browser)["unknown_owner"] == {"count": 0, "ids": 0, "last_received_at": None, "by_object": {}}


@pytest.mark.parametrize("version, clock, end, days_left, warned", [
    ("v26.0", datetime(2026, 12, 1, tzinfo=timezone.utc), None, None, False),
    ("v24.0", datetime(2027, 11, 1, tzinfo=timezone.utc), "2028-02-18", 109, False),
    ("v24.0", datetime(2027, 12, 1, tzinfo=timezone.utc), "2028-02-18", 79, True),
    ("v21.0", datetime(2027, 2, 1, tzinfo=timezone.utc), "2027-01-21", -11, True),
])
def test_the_graph_api_version_and_its_end_of_life(app, auth, browser, version, clock, end, days_left, warned):
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(meta_graph_version=version)
    app.config["CLOCK"] = lambda: clock
    auth.register()
    graph_api = health(browser)["graph_api"]
    assert graph_api["version"] == version
    assert graph_api["end_of_life"] == end
    assert graph_api["days_left"] == days_left
    assert bool(graph_api["warning"]) is warned
    assert graph_api["newest"] == "v26.0"
    if warned:
        assert "META_GRAPH_VERSION to v26.0" in graph_api["warning"]
