"""The dashboard in a real browser: Playwright driving Debian's Chromium against the app over HTTP."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.live import consent
from tests.support.rows import insert_event, user_id
from tests.support.webhooks import deliver, sign

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # drives Chromium

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
EMAIL, PASSWORD = "owner@example.com", "correct horse"
LIVE_WAIT_MS = 3000  # live over /api/stream: well under a second; polling alone would take 10 s


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
    page.wait_for_selector('#live-state[data-state="on"]')


def shot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def go(page, path: str) -> None:
    page.goto(path)
    page.wait_for_selector('#live-state[data-state="on"]')


def row(page, event_id: int):
    return page.locator(f'#events-body tr[data-event-id="{event_id}"]')


def test_events_page_filters_live_in_the_url_and_survive_reload_and_sharing(page_factory, owner, sql, server):
    for _ in range(3):
        insert_event(sql, owner, status="processed", object="instagram", field="comments")
    insert_event(sql, owner, status="pending", object="page", field="feed")
    failed = insert_event(sql, owner, status="failed", object="whatsapp_business_account", field="messages",
                          attempts=2, payload={"id": "waba-1", "changes": [{"field": "messages", "value": {"x": 1}}]},
                          errors=[{"attempt": 1, "at": "2025-01-01T00:00:01Z", "message": "KeyError: 'contacts'"}])
    page = page_factory(1440, 900)
    log_in(page)
    assert page.locator('[data-count="processed"]').inner_text() == "3"
    assert page.locator("#events-chart").get_attribute("data-total-received") == "5"
    shot(page, "overview-1440px")
    page.get_by_role("link", name="Events", exact=True).click()
    page.wait_for_url("**/events")
    expect(page.locator("#events-body tr")).to_have_count(5)
    # The list starts high on the page, not 1,400 px down.
    assert page.locator("#events-body tr").first.bounding_box()["y"] < 700

    page.get_by_label("Object").select_option("instagram")
    expect(page.locator("#events-body tr")).to_have_count(3)
    assert "object=instagram" in page.url
    page.get_by_label("Search").fill("waba-1")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#events-body tr")).to_have_count(0)  # waba-1 is not an instagram event
    page.go_back()
    expect(page.locator("#events-body tr")).to_have_count(3)
    assert page.get_by_label("Search").input_value() == ""
    page.reload()
    expect(page.locator("#events-body tr")).to_have_count(3)
    assert page.get_by_label("Object").input_value() == "instagram"
    shot(page, "events-1440px")

    # A shared link with a case-insensitive filter, opened by someone else's browser (same user here).
    other = page_factory(390, 844)
    log_in(other)
    go(other, "/events?object=WhatsApp&status=failed")
    expect(other.locator("#events-body tr")).to_have_count(1)
    assert row(other, failed).is_visible()
    assert other.evaluate("document.documentElement.scrollWidth") <= 390
    shot(other, "events-390px")
    assert page.problems == [] and other.problems == []
    assert all(url.startswith(server.url) for url in page.requests), "a request left the machine"


def test_event_page_retry_replay_and_bulk(page_factory, owner, sql):
    failed = insert_event(sql, owner, status="failed", field="messages",
                          errors=[{"attempt": 1, "at": "2025-01-01T00:00:01Z", "message": "KeyError: 'contacts'"},
                                  {"attempt": 2, "at": "2025-01-01T00:00:06Z", "message": "KeyError: 'contacts'"}])
    done = insert_event(sql, owner, status="processed")
    page = page_factory(1440, 900)
    log_in(page)
    go(page, "/events")
    row(page, failed).get_by_role("link").click()
    page.wait_for_url(f"**/events/{failed}")
    page.wait_for_selector('#event-detail[data-status="failed"]')
    assert page.locator("#detail-errors li").count() == 2
    assert "KeyError: 'contacts'" in page.locator("#detail-errors").inner_text()
    shot(page, "event-1440px")
    page.get_by_role("button", name="Retry", exact=True).click()
    page.wait_for_selector('#event-detail[data-status="pending"]')
    # The message appears next to the button, not behind a dialog.
    toast = page.locator("#event-detail .toast")
    expect(toast).to_have_text(f"Event #{failed} is back in the queue.")
    assert page.get_by_role("button", name="Retry", exact=True).is_disabled()
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (failed,))[0][0] == "pending"

    go(page, f"/events/{done}")
    page.wait_for_selector('#event-detail[data-status="processed"]')
    assert "Replay runs it again" in page.locator("#detail-action-note").inner_text()
    page.get_by_role("button", name="Replay").click()
    page.wait_for_selector('#event-detail[data-status="pending"]')
    assert sql("SELECT status FROM webhook_events WHERE id = %s", (done,))[0][0] == "pending"

    # Bulk: select both, delete.
    go(page, "/events")
    expect(page.locator("#events-body tr")).to_have_count(2)
    assert page.get_by_role("button", name="Delete selected").is_disabled()
    page.get_by_label("Select every event shown").check()
    page.get_by_role("button", name="Delete selected").click()
    expect(page.locator("#events-body tr")).to_have_count(0)
    assert "2 event(s) deleted." in page.locator(".toast").first.inner_text()
    assert sql("SELECT count(*) FROM webhook_events")[0][0] == 0
    assert page.problems == []


def test_another_users_event_page_is_404(page_factory, owner, sql, server):
    theirs = insert_event(sql, None)
    page = page_factory()
    log_in(page)
    answer = page.goto(f"/events/{theirs}")
    assert answer.status == 404


def test_a_delivery_appears_on_the_open_events_page_without_reloading(page_factory, owner, sql, server):
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES ('ig-owned', %s, 'instagram')", (owner,))
    earlier = insert_event(sql, owner, status="processed")
    page = page_factory()
    log_in(page)
    go(page, "/events")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#events-body tr")).to_have_count(1)
    row(page, earlier).get_by_role("link").focus()

    mention = {"object": "instagram", "entry": [{"id": "ig-owned", "time": 1700000000, "changes": [
        {"field": "mentions", "value": {"media_id": "m-1", "comment_id": "c-1"}}]}]}
    assert deliver(server.url, mention).status_code == 200
    arrived = sql("SELECT id FROM webhook_events WHERE user_id = %s AND field = 'mentions'", (owner,))[0][0]
    row(page, arrived).wait_for(timeout=LIVE_WAIT_MS)  # by the stream: polling alone would take 10 s
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#events-body tr").first.get_attribute("data-event-id") == str(arrived)
    assert page.evaluate("document.activeElement.closest('tr').dataset.eventId") == str(earlier)
    assert page.locator("#live-state").inner_text() == "Live"
    assert page.problems == []


def test_an_event_page_shows_the_headers_its_delivery_came_with(page_factory, owner, sql, server):
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES ('ig-owned', %s, 'instagram')", (owner,))
    mention = {"object": "instagram", "entry": [{"id": "ig-owned", "time": 1700000000, "changes": [
        {"field": "mentions", "value": {"media_id": "m-1", "comment_id": "c-1"}}]}]}
    body = json.dumps(mention).encode()
    assert deliver(server.url, body).status_code == 200
    arrived = sql("SELECT id FROM webhook_events WHERE user_id = %s", (owner,))[0][0]
    older = insert_event(sql, owner)  # stored without headers (as before they were kept)
    page = page_factory()
    log_in(page)
    go(page, f"/events/{arrived}")
    headers = page.locator("#detail-headers")
    expect(headers.locator("dt", has_text="X-Hub-Signature-256")).to_be_visible()
    assert headers.locator("dt").all_inner_texts() == ["Content-Length", "Content-Type", "User-Agent",
                                                       "X-Hub-Signature-256", "From address"]  # by name
    assert headers.locator("dd").nth(1).inner_text() == "application/json"
    assert sign(body) in headers.inner_text() and "127.0.0.1" in headers.inner_text()
    go(page, f"/events/{older}")
    expect(headers).to_contain_text("stored before headers were kept")
    assert page.problems == []


@pytest.mark.sandbox
def test_follower_chart_draws_the_snapshots_the_api_returns(page_factory, owner, browser, sandbox, settings, db, sql):
    """Real snapshots: the sandbox's Instagram account synced twice by the data sync, its followers changed between."""
    from webhook_app.accounts import graph
    from webhook_app.accounts.data_sync import DataSync
    from webhook_app.tokens.vault import from_settings as vault_from_settings

    assert consent(browser, "/connect/meta").status_code == 302

    def sync():
        DataSync(db, vault_from_settings(settings), graph.meta_client(settings, sleep=lambda s: None),
                 graph.instagram_client(settings), graph.tiktok_client(settings), spacing=0, sleep=lambda s: None).run()

    ig = next(iter(sandbox.state.instagram.values()))
    ig.followers_count = 1200
    sync()
    sql("UPDATE account_metrics SET taken_at = now() - interval '2 days'")
    sql("UPDATE instagram_accounts SET last_synced_at = now() - interval '2 days'")
    ig.followers_count = 1350
    sync()
    metrics = browser.api("GET", "/api/metrics").json()
    [series] = metrics["accounts"]
    assert [p["followers"] for p in series["points"]] == [1200, 1350]

    page = page_factory(1440, 900)
    log_in(page)
    chart = page.locator("#followers-chart")
    expect(chart.locator(".dot")).to_have_count(2)
    assert chart.locator("polyline").count() == 1
    assert f"{series['name']}: 1,350" in chart.locator(".legend").inner_text()
    # The two points: the later one higher on the chart (SVG y grows downwards).
    ys = [float(c.get_attribute("y1")) for c in chart.locator(".dot").all()]
    assert ys[1] < ys[0]
    assert "1,200 followers" in chart.locator(".dot").first.locator("title").text_content()
    assert "1,200 – 1,350 followers" in chart.locator(".chart-axis").inner_text()
    # Recent posts with their figures.
    assert metrics["recent_media"], "the sandbox's account has posts"
    assert page.locator("#recent-media li").count() == min(8, len(metrics["recent_media"]))
    first = metrics["recent_media"][0]
    assert f"{first['like_count']} like" in page.locator("#recent-media li").first.inner_text()
    shot(page, "overview-followers-1440px")
    assert page.problems == []


def test_chart_range_picker_and_values_by_keyboard(page_factory, owner, sql):
    for _ in range(4):
        insert_event(sql, owner, status="processed")
    page = page_factory(1440, 900)
    log_in(page)
    page.get_by_role("button", name="1 h").click()
    page.wait_for_selector('#events-chart[data-range="1h"]')
    assert "range=1h" in page.url
    assert page.locator("#events-chart .hit").count() == 60
    page.locator("#events-chart .bars-focus").focus()
    page.keyboard.press("End")
    assert "4 received" in page.locator("#events-chart .chart-tip").inner_text()
    page.get_by_role("button", name="7 d").click()
    page.wait_for_selector('#events-chart[data-range="7d"]')
    assert page.locator("#events-chart").get_attribute("data-total-received") == "4"
    page.reload()
    page.wait_for_selector('#events-chart[data-range="7d"]')
    assert page.locator('button[data-range="7d"]').get_attribute("aria-pressed") == "true"
    assert page.problems == []


def test_every_page_at_phone_and_desktop_width(page_factory, owner, sql):
    insert_event(sql, owner, status="failed", field="comments",
                 errors=[{"attempt": 1, "at": "2025-01-01T00:00:01Z", "message": "boom"}])
    sql("WITH m AS (INSERT INTO meta_accounts (user_id, meta_user_id, name) VALUES (%s, '1001', 'Shop Owner') "
        "RETURNING id, user_id) INSERT INTO credentials (user_id, kind, account_id, token_kind, status) "
        "SELECT user_id, 'meta', id, 'long_lived_user', 'needs_reauth' FROM m", (owner,))
    for width, height in ((390, 844), (1440, 900)):
        page = page_factory(width, height)
        log_in(page)
        for path, name in (("/", "overview"), ("/events", "events"), ("/accounts", "accounts"),
                           ("/templates", "templates"), ("/health", "health")):
            go(page, path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
            unlabeled = page.evaluate("""() => [...document.querySelectorAll('main input, main select, main button')]
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
                .map(el => el.outerHTML)""")
            assert unlabeled == [], (path, unlabeled)
            assert page.locator('nav[aria-label="Main"] a[aria-current="page"]').count() == (1 if path else 0)
            shot(page, f"{name}-{width}px")
        go(page, "/accounts")
        banner = page.locator("#reauth-banners .banner")
        assert "Shop Owner (facebook) needs re-authorization" in banner.inner_text()
        # The skip link is the first Tab stop and lands on the content.
        go(page, "/events")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        assert page.problems == []


def test_the_429_page_says_when_to_try_again_and_where_to_go(page_factory, server):
    page = page_factory()
    answer = None
    for _ in range(12):
        page.goto("/auth/login")
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        if "Too many attempts" in page.content():
            answer = page.content()
            break
    assert answer is not None, "five wrong passwords were never refused"
    text = page.locator("main").inner_text()
    assert "Try again in" in text and ("second" in text or "minute" in text)
    assert "Back to the dashboard" not in text and "Back to the overview" not in text
    assert page.get_by_role("link", name="Back to the form").get_attribute("href") == "/auth/login"
    shot(page, "429-1440px")


AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations_on_any_page(chromium, server, owner, sql, scheme):
    """axe-core (WCAG 2.2 A/AA rules) on every page in both themes: no serious or critical violations."""
    assert AXE.exists(), "axe-core is missing: `make test` installs it from package.json"
    insert_event(sql, owner, status="failed", errors=[{"attempt": 1, "at": "2025-01-01T00:00:01Z", "message": "boom"}])
    # Only this context skips the CSP, so axe's own script can be injected; the app's pages are unchanged.
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, base_url=server.url, bypass_csp=True,
                                   color_scheme=scheme)
    try:
        page = context.new_page()
        log_in(page)
        event_id = sql("SELECT id FROM webhook_events")[0][0]
        found = {}
        for path in ("/", "/events", f"/events/{event_id}", "/accounts", "/templates", "/health"):
            go(page, path)
            page.wait_for_load_state("networkidle")
            page.add_script_tag(path=str(AXE))
            result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})""")
            serious = [f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['html'][:120]})"
                       for v in result["violations"] if v["impact"] in ("serious", "critical")]
            if serious:
                found[path] = serious
        assert found == {}, json.dumps(found, indent=1)
    finally:
        context.close()


@pytest.mark.sandbox
def test_templates_page_lists_filters_and_searches_synced_templates(page_factory, owner, browser, sandbox):
    assert consent(browser, "/connect/whatsapp").status_code == 302
    waba = next(iter(sandbox.state.wabas.values()))
    sandbox.state.seed_templates(waba.id, 4, status="REJECTED")
    assert browser.api("POST", "/api/templates/sync").status_code == 200
    every = browser.api("GET", "/api/templates?status=all").json()["templates"]
    rejected = [t for t in every if t["status"] == "REJECTED"]
    page = page_factory(1440, 900)
    log_in(page)
    go(page, "/templates")
    expect(page.locator("#templates-body tr")).to_have_count(len(every))
    page.get_by_label("Status").select_option("REJECTED")
    expect(page.locator("#templates-body tr")).to_have_count(len(rejected))
    assert "INVALID_FORMAT" in page.locator("#templates-body").inner_text()
    assert "status=REJECTED" in page.url
    page.reload()
    expect(page.locator("#templates-body tr")).to_have_count(len(rejected))
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search").fill(every[0]["name"])
    expect(page.locator("#templates-body tr").first).to_contain_text(every[0]["name"])
    assert every[0]["components"]["body"]["text"][:20] in page.locator("#templates-body tr").first.inner_text()
    assert "approved" in page.locator("#templates-status").inner_text()
    assert "null" not in page.locator("#templates-status").inner_text()
    page.get_by_label("Search").fill("")
    shot(page, "templates-1440px")
    dark = page_factory(390, 844)
    dark.emulate_media(color_scheme="dark")
    log_in(dark)
    go(dark, "/templates")
    expect(dark.locator("#templates-body tr")).to_have_count(len(every))
    shot(dark, "templates-dark-390px")
    assert page.problems == [] and dark.problems == []


def test_health_page_lists_the_timed_jobs_and_runs_one_now(page_factory, owner, sql):
    """The timers' jobs with their calendars; Run now queues one run for the background-jobs worker."""
    page = page_factory(1440, 900)
    log_in(page)
    go(page, "/health")
    prune = page.locator('tr[data-job="prune"]')
    prune.wait_for()
    assert page.locator("#timed-jobs tr").count() >= 6   # every timer of deployment/systemd
    assert prune.locator("code").inner_text().strip()    # its OnCalendar= schedule
    assert sql("SELECT count(*) FROM background_jobs WHERE kind = 'timed_job'") == [(0,)]
    prune.get_by_role("button", name="Run now: prune").click()
    page.get_by_text("prune queued").wait_for()
    assert sql("SELECT payload->>'name', status FROM background_jobs WHERE kind = 'timed_job'") == [("prune", "queued")]
    shot(page, "health-jobs-1440px")
