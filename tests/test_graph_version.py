"""The Graph API version (issue 21): one setting, default v26.0, Meta's end-of-life calendar in one table, and a
warning on the dashboard, in the accounts API and in the log from 90 days before the version's end."""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone

import pytest

from tests.support.live import AuthActions, Browser, LiveServer
from webhook_app import create_app
from webhook_app.accounts import graph
from webhook_app.config import DEFAULTS, load_settings


def test_the_default_is_the_newest_version_meta_serves_and_one_variable_changes_it(tmp_path):
    assert DEFAULTS.meta_graph_version == "v26.0"
    assert max(graph.GRAPH_VERSION_CALENDAR, key=lambda v: float(v[1:])) == "v26.0"
    settings = load_settings({"META_GRAPH_VERSION": "v25.0", "VAR_DIR": str(tmp_path)})
    assert settings.meta_graph_version == "v25.0"
    assert graph.meta_client(settings)._path("/me") == "/v25.0/me"


def test_the_calendar_holds_meta_s_published_dates():
    # Meta's changelog, https://developers.facebook.com/docs/graph-api/changelog/versions/ (read 2026-12-01).
    assert graph.GRAPH_VERSION_CALENDAR["v21.0"] == date(2027, 1, 21)
    assert graph.GRAPH_VERSION_CALENDAR["v22.0"] == date(2027, 5, 20)
    assert graph.GRAPH_VERSION_CALENDAR["v23.0"] == date(2027, 10, 8)
    assert graph.GRAPH_VERSION_CALENDAR["v24.0"] == date(2028, 2, 18)
    assert graph.GRAPH_VERSION_CALENDAR["v25.0"] == date(2028, 7, 29)
    assert graph.GRAPH_VERSION_CALENDAR["v26.0"] is None


@pytest.mark.parametrize("today, warned", [
    (date(2027, 11, 19), False),    # 91 days before v24.0's end
    (date(2027, 11, 20), True),     # 90 days before
    (date(2028, 2, 18), True),      # the last day
    (date(2028, 3, 1), True),       # after it
])
def test_the_warning_starts_ninety_days_before_the_end(today, warned):
    status = graph.version_status("v24.0", today)
    assert bool(status["warning"]) is warned
    assert status["end_of_life"] == "2028-02-18"
    if warned:
        assert "v26.0" in status["warning"] and "META_GRAPH_VERSION" in status["warning"]


def test_a_version_without_an_announced_end_and_an_unknown_one():
    assert graph.version_status("v26.0", date(2030, 1, 1))["warning"] is None
    unknown = graph.version_status("v12.0", date(2026, 12, 1))
    assert unknown["known"] is False and "not in this service's calendar" in unknown["warning"]


def _served(settings, clock):
    app = create_app(settings, test_config={"CLOCK": lambda: clock})
    return app, LiveServer(app).start()


@pytest.mark.parametrize("clock, warned", [
    (datetime(2027, 11, 1, tzinfo=timezone.utc), False),
    (datetime(2027, 12, 1, tzinfo=timezone.utc), True),
])
def test_the_dashboard_and_the_accounts_api_warn_when_the_calendar_says_so(settings, clock, warned):
    app, server = _served(settings.with_overrides(meta_graph_version="v24.0"), clock)
    try:
        browser = Browser(server.url)
        AuthActions(browser).register()
        body = browser.api("GET", "/api/accounts").json()
        assert body["graph_api"]["version"] == "v24.0"
        assert body["graph_api"]["end_of_life"] == "2028-02-18"
        assert bool(body["graph_api"]["warning"]) is warned
        page = browser.get("/").text
        assert ('data-warning="graph_version"' in page) is warned
        if warned:
            assert "stops working on 2028-02-18 (79 days from now)" in page
    finally:
        server.stop()
        app.extensions["database"].close()


def test_start_up_logs_the_warning(settings, caplog):
    caplog.set_level(logging.WARNING, logger="webhook_app.accounts.graph")
    for version in ("v26.0", "v21.0"):   # v21.0 ends 2027-01-21: within 90 days of this code's writing, or past
        app = create_app(settings.with_overrides(meta_graph_version=version))
        app.extensions["database"].close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "webhook_app.accounts.graph"]
    assert len(warnings) == 1 and "Graph API v21.0" in warnings[0]
