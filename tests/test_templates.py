"""WhatsApp template sync against the sandbox: paging, statuses, deletions, webhooks, failures, the queue."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.support.live import ROOT, LiveServer, app_env, consent
from webhook_app import create_app
from webhook_app.message_templates import sync as templates_sync
from webhook_app.sandbox import samples, sandbox_env

pytestmark = pytest.mark.sandbox


def _waba(sandbox):
    return next(iter(sandbox.state.wabas.values()))


def _connect_whatsapp(auth, browser):
    auth.register()
    done = consent(browser, "/connect/whatsapp")
    assert done.status_code == 302 and done.headers["Location"] == "/"


def _seed_250(sandbox):
    """The default 3 approved templates plus 247 more: 150 approved, 50 pending, 30 rejected, 20 paused."""
    waba = _waba(sandbox)
    sandbox.state.seed_templates(waba.id, 147)
    sandbox.state.seed_templates(waba.id, 50, status="PENDING")
    sandbox.state.seed_templates(waba.id, 30, status="REJECTED")
    sandbox.state.seed_templates(waba.id, 20, status="PAUSED")
    assert len(waba.templates) == 250
    return waba


def test_250_templates_over_several_pages_are_stored_and_only_approved_listed(auth, browser, sandbox, sql):
    _connect_whatsapp(auth, browser)
    waba = _seed_250(sandbox)
    pages_before = sandbox.state.calls_to("/message_templates")

    synced = browser.api("POST", "/api/templates/sync")
    assert synced.status_code == 200, synced.text
    [account] = synced.json()["accounts"]
    assert (account["ok"], account["templates"], account["added"], account["removed"]) == (True, 250, 250, 0)
    # 250 templates at 100 a page: three pages, every one followed.
    assert sandbox.state.calls_to("/message_templates") - pages_before == 3
    assert sql("SELECT count(*) FROM message_templates")[0][0] == 250

    listed = browser.api("GET", "/api/templates").json()["templates"]
    assert len(listed) == 150
    approved_ids = {t["id"] for t in waba.templates if t["status"] == "APPROVED"}
    assert {t["id"] for t in listed} == approved_ids
    first = next(t for t in listed if t["name"] == "sandbox_template_1")
    assert first["components"] == {
        "header": {"format": "TEXT", "text": "Update 1", "variables": []},
        "body": {"text": "Hello {{1}}, your order {{2}} is ready.", "variables": [1, 2]},
        "footer": {"text": "Sandbox Coffee"},
        "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}],
    }
    assert first["quality_score"] == "GREEN" and first["language"] == "en_US"

    every = browser.api("GET", "/api/templates?status=all").json()["templates"]
    assert len(every) == 250
    rejected = [t for t in every if t["status"] == "REJECTED"]
    assert len(rejected) == 30 and {t["rejected_reason"] for t in rejected} == {"INVALID_FORMAT"}

    status = browser.api("GET", "/api/templates/status").json()
    assert status["counts"] == {"APPROVED": 150, "PAUSED": 20, "PENDING": 50, "REJECTED": 30}
    assert (status["approved"], status["total"], status["last_error"]) == (150, 250, None)
    assert status["last_synced_at"] is not None
    assert sql("SELECT DISTINCT rejected_reason FROM message_templates WHERE status = 'REJECTED'") == [
        ("INVALID_FORMAT",)]

    # A second sync with nothing changed at Meta changes nothing here.
    stamps = sql("SELECT template_id, updated_at FROM message_templates ORDER BY template_id")
    again = browser.api("POST", "/api/templates/sync").json()["accounts"][0]
    assert (again["added"], again["updated"], again["removed"]) == (0, 0, 0)
    assert sql("SELECT template_id, updated_at FROM message_templates ORDER BY template_id") == stamps

    # Deleted in WhatsApp Manager: gone after the next sync.
    gone = next(t for t in waba.templates if t["name"] == "sandbox_template_1")
    assert sandbox.state.delete_template(waba.id, gone["id"])
    third = browser.api("POST", "/api/templates/sync").json()["accounts"][0]
    assert (third["templates"], third["removed"]) == (249, 1)
    assert gone["id"] not in {t["id"] for t in browser.api("GET", "/api/templates").json()["templates"]}
    status = browser.api("GET", "/api/templates/status").json()
    assert (status["approved"], status["total"]) == (149, 249)


def _template_change(sandbox, template: dict, **value) -> tuple[str, dict]:
    """The sandbox's template-status webhook for one template, with the given value fields."""
    entry = samples.build(sandbox.state, "template_status")["entry"][0]
    change = entry["changes"][0]
    change["value"].update(message_template_id=int(template["id"]), message_template_name=template["name"], **value)
    return entry["id"], change


def test_template_status_webhook_changes_that_one_template_without_a_sync(auth, browser, sandbox, db, sql):
    _connect_whatsapp(auth, browser)
    waba = _waba(sandbox)
    assert browser.api("POST", "/api/templates/sync").status_code == 200
    target, other = waba.templates[0], waba.templates[1]
    others_before = sql("SELECT template_id, status, updated_at FROM message_templates WHERE template_id <> %s "
                        "ORDER BY template_id", (target["id"],))
    calls = sandbox.state.calls_to("/message_templates")

    waba_id, change = _template_change(sandbox, target, event="REJECTED", reason="INCORRECT_CATEGORY")
    with db.transaction() as tx:
        assert templates_sync.apply_template_webhook(tx, waba_id, change) == 1

    listed = {t["id"] for t in browser.api("GET", "/api/templates").json()["templates"]}
    assert target["id"] not in listed and other["id"] in listed
    assert sql("SELECT status, rejected_reason FROM message_templates WHERE template_id = %s", (target["id"],)) == [
        ("REJECTED", "INCORRECT_CATEGORY")]
    assert sql("SELECT template_id, status, updated_at FROM message_templates WHERE template_id <> %s "
               "ORDER BY template_id", (target["id"],)) == others_before
    assert browser.api("GET", "/api/templates/status").json()["counts"] == {"APPROVED": 2, "REJECTED": 1}

    # A category change moves only the category.
    category = {"field": "template_category_update",
                "value": {"message_template_id": int(other["id"]), "previous_category": other["category"],
                          "new_category": "MARKETING"}}
    with db.transaction() as tx:
        assert templates_sync.apply_template_webhook(tx, waba_id, category) == 1
    assert sql("SELECT category, status FROM message_templates WHERE template_id = %s", (other["id"],)) == [
        ("MARKETING", "APPROVED")]
    # Neither webhook asked Meta for the template list.
    assert sandbox.state.calls_to("/message_templates") == calls

    # A template we have never seen (created after the last sync) queues a sync of its account.
    new = sandbox.state.seed_templates(waba.id, 1)[0]
    waba_id, change = _template_change(sandbox, new, event="APPROVED")
    with db.transaction() as tx:
        assert templates_sync.apply_template_webhook(tx, waba_id, change) == 0
    assert sql("SELECT kind, status FROM background_jobs WHERE status = 'queued'") == [("sync_templates", "queued")]


def test_a_failed_sync_is_reported_and_the_next_success_clears_it(auth, browser, sandbox):
    _connect_whatsapp(auth, browser)
    sandbox.state.add_fault(100, path_contains="/message_templates", times=1)

    failed = browser.api("POST", "/api/templates/sync")
    assert failed.status_code == 502
    assert "Meta did not list the templates: (#100) Invalid parameter" == failed.json()["error"]
    status = browser.api("GET", "/api/templates/status").json()
    assert status["last_error"] == failed.json()["error"] and status["last_error_at"] is not None
    assert status["total"] == 0 and status["last_synced_at"] is None
    health = browser.api("GET", "/api/webhook-health").json()
    assert health["templates"]["last_error"] == failed.json()["error"]

    ok = browser.api("POST", "/api/templates/sync")
    assert ok.status_code == 200 and ok.json()["ok"] is True
    status = browser.api("GET", "/api/templates/status").json()
    assert (status["last_error"], status["total"], status["approved"]) == (None, 3, 3)
    assert status["last_synced_at"] is not None


def _worker(settings, sandbox, **env):
    return subprocess.Popen([sys.executable, "-m", "jobs.run_background_jobs"], cwd=ROOT,
                            env=app_env(settings, **sandbox_env(sandbox.url), **env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow  # starts a subprocess
def test_connecting_whatsapp_queues_a_sync_the_worker_completes(auth, browser, sandbox, settings, sql):
    # Without a worker running, the callback answers at once and only a job is left behind.
    _connect_whatsapp(auth, browser)
    assert sandbox.state.calls_to("/message_templates") == 0
    assert sql("SELECT count(*) FROM message_templates")[0][0] == 0
    assert sql("SELECT kind, status FROM background_jobs") == [("sync_templates", "queued")]

    # The worker picks it up (polling would take a minute: the NOTIFY path is what wakes it later).
    worker = _worker(settings, sandbox, JOBS_POLL_SECONDS="60")
    try:
        assert _wait_for(lambda: sql("SELECT count(*) FROM message_templates")[0][0] == 3), worker.poll()
        assert _wait_for(lambda: sql("SELECT status FROM background_jobs") == [("done",)])
        status = browser.api("GET", "/api/templates/status").json()
        assert (status["approved"], status["total"], status["last_error"]) == (3, 3, None)

        # Connecting again while the worker sleeps: the NOTIFY at commit wakes it within seconds.
        waba = _waba(sandbox)
        sandbox.state.seed_templates(waba.id, 2, status="PENDING")
        started = time.monotonic()
        assert consent(browser, "/connect/whatsapp").status_code == 302
        assert _wait_for(lambda: sql("SELECT count(*) FROM message_templates")[0][0] == 5, timeout=10)
        assert time.monotonic() - started < 10
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0].decode()
    assert worker.returncode == 0, output
    assert "Stop requested (SIGTERM)" in output


def test_sync_now_is_rate_limited_per_user(auth, browser, sandbox, settings):
    limited = settings.with_overrides(ratelimits={**settings.ratelimits, "RATELIMIT_SYNC": "2 per 15 minutes"})
    app = create_app(limited)
    live = LiveServer(app).start()
    try:
        browser.base_url = live.url
        _connect_whatsapp(auth, browser)
        answers = [browser.api("POST", "/api/templates/sync") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[2].headers["Retry-After"]) > 0
        assert "error" in answers[2].json()
    finally:
        live.stop()
        app.extensions["database"].close()


def test_other_users_templates_and_health_are_invisible(auth, browser, sandbox):
    _connect_whatsapp(auth, browser)
    assert browser.api("POST", "/api/templates/sync").status_code == 200
    auth.logout()
    auth.register("other@example.com")
    assert browser.api("GET", "/api/templates").json() == {"templates": []}
    status = browser.api("GET", "/api/templates/status").json()
    assert (status["total"], status["accounts"], status["last_synced_at"]) == (0, [], None)
    nothing = browser.api("POST", "/api/templates/sync").json()
    assert nothing["accounts"] == [] and nothing["message"] == "No WhatsApp Business account is connected."
    assert browser.api("GET", "/api/webhook-health").json()["templates"]["total"] == 0


def test_template_endpoints_need_a_login(browser):
    for method, path in (("GET", "/api/templates"), ("GET", "/api/templates/status"),
                         ("POST", "/api/templates/sync"), ("GET", "/api/webhook-health"), ("GET", "/api/metrics")):
        answer = browser.api(method, path)
        assert answer.status_code == 401 and answer.json() == {"error": "Log in first."}, path


def test_the_templates_page_is_wired_to_the_api(auth, browser):
    auth.register()
    page = browser.get("/templates")
    assert page.status_code == 200
    assert 'id="templates-body"' in page.text and 'id="templates-sync"' in page.text
    assert 'aria-current="page"' in page.text and '<a href="/templates" aria-current="page">' in page.text
    script = browser.get("/static/js/templates.js")
    assert script.status_code == 200
    assert "/api/templates/sync" in script.text and "/api/templates?status=all" in script.text
    helper = browser.get("/static/js/api.js").text
    assert "X-CSRFToken" in helper


def test_template_webhooks_for_an_unknown_template_queue_one_sync_at_a_time(auth, browser, sandbox, server,
                                                                              settings, db, sql):
    """Six webhooks about a template created at Meta after the last sync: one sync, not six."""
    from jobs.run_background_jobs import job_handlers
    from tests.support.inbox import drain
    from tests.support.webhooks import deliver
    from webhook_app.background_jobs import store as background_jobs

    _connect_whatsapp(auth, browser)
    handlers = job_handlers(db, settings)
    assert background_jobs.run_due(db, handlers) == 1   # the sync queued by the connect
    waba = _waba(sandbox)
    calls = sandbox.state.calls_to("/message_templates")
    for n in range(6):
        entry = samples.build(sandbox.state, "template_status")["entry"][0]
        entry["changes"][0]["value"].update(message_template_id=990000 + n, message_template_name=f"new_{n}")
        deliver(server.url, {"object": "whatsapp_business_account", "entry": [{**entry, "id": waba.id}]})
        drain(settings)
        background_jobs.run_due(db, handlers)   # a worker that is always quick to pick jobs up
    assert sql("SELECT status, count(*) FROM background_jobs WHERE kind = 'sync_templates' GROUP BY status "
               "ORDER BY status") == [("done", 1), ("queued", 1)]
    assert sandbox.state.calls_to("/message_templates") == calls   # none of the six ran a sync yet
    # The one queued sync waits a moment for more webhooks of the same burst, then runs once.
    [(delay,)] = sql("SELECT extract(epoch FROM run_at - now()) FROM background_jobs WHERE status = 'queued'")
    assert 0 < delay <= templates_sync.WEBHOOK_SYNC_DELAY
    sql("UPDATE background_jobs SET run_at = now() WHERE status = 'queued'")
    assert background_jobs.run_due(db, handlers) == 1
    assert sandbox.state.calls_to("/message_templates") > calls


def test_a_quality_webhook_changes_the_stored_template(auth, browser, sandbox, server, settings, db):
    """message_template_quality_update (Meta's shape) reaches the template list without a sync."""
    from jobs.run_background_jobs import job_handlers
    from tests.support.inbox import drain
    from tests.support.webhooks import deliver
    from webhook_app.background_jobs import store as background_jobs

    _connect_whatsapp(auth, browser)
    background_jobs.run_due(db, job_handlers(db, settings))
    template = browser.api("GET", "/api/templates").json()["templates"][0]
    waba = _waba(sandbox)
    deliver(server.url, {"object": "whatsapp_business_account", "entry": [{"id": waba.id, "time": 1733000000,
        "changes": [{"field": "message_template_quality_update", "value": {
            "previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
            "message_template_id": int(template["id"]), "message_template_name": template["name"],
            "message_template_language": template["language"]}}]}]})
    drain(settings)
    after = {t["id"]: t for t in browser.api("GET", "/api/templates").json()["templates"]}
    assert after[template["id"]]["quality_score"] == "YELLOW"
