"""Token lifecycle against the sandbox: the refresh job, re-authorization banners, and token health."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from jobs import monitor_tokens
from tests.support.live import ROOT, app_env, consent
from tests.support.rows import plant_credential, stored_token
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.sandbox import sandbox_env
from webhook_app.tokens import refresh_run as refresh_tokens

pytestmark = pytest.mark.sandbox

QUICK = {"max_slowdown": 0.1, "backoff": 0.01}


def _refresh(settings, **kw):
    return refresh_tokens.run(settings, client_options=QUICK, out=lambda line: None, **kw)


def _log(sql):
    return sql("SELECT account_kind, account_id, method, outcome, error_code FROM token_refresh_log ORDER BY id")


def _connect_meta(auth, browser):
    auth.register()
    assert consent(browser, "/connect/meta").status_code == 302
    return browser.api("GET", "/api/accounts").json()["accounts"]


def test_a_token_three_days_from_expiry_is_refreshed_one_thirty_days_away_is_not(auth, browser, sandbox, sql,
                                                                                   settings):
    _connect_meta(auth, browser)
    assert consent(browser, "/connect/whatsapp").status_code == 302
    sql("UPDATE credentials SET expires_at = now() + interval '3 days' WHERE kind = 'meta'")
    sql("UPDATE credentials SET expires_at = now() + interval '30 days' WHERE kind = 'whatsapp'")
    meta_id, whatsapp_id = sql("SELECT id FROM meta_accounts")[0][0], sql("SELECT id FROM whatsapp_accounts")[0][0]
    old_user, old_whatsapp = stored_token(settings, sql, "meta", meta_id), stored_token(settings, sql, "whatsapp",
                                                                                     whatsapp_id)
    old_pages = {r[0]: stored_token(settings, sql, "page", r[0]) for r in sql("SELECT id FROM pages")}
    exchanges = sandbox.state.calls_to("/oauth/access_token")

    summary = _refresh(settings)

    assert summary.outcomes == {"refreshed": 1}
    assert sandbox.state.calls_to("/oauth/access_token") == exchanges + 1
    new_user = stored_token(settings, sql, "meta", meta_id)
    assert new_user != old_user and sandbox.state.token_problem(sandbox.state.tokens[new_user]) is None
    assert sql("SELECT expires_at > now() + interval '59 days', status FROM credentials WHERE kind = 'meta'") == [
        (True, "active")]
    # The Page tokens were derived again from the new user token.
    for page_id, old in old_pages.items():
        fresh = stored_token(settings, sql, "page", page_id)
        assert fresh != old and sandbox.state.tokens[fresh].parent == new_user
    assert stored_token(settings, sql, "whatsapp", whatsapp_id) == old_whatsapp
    assert _log(sql) == [("meta", meta_id, "fb_exchange_token", "refreshed", None)]


@pytest.mark.slow  # starts a subprocess
def test_dry_run_lists_what_it_would_do_and_changes_nothing(auth, browser, sandbox, sql, settings):
    _connect_meta(auth, browser)
    sql("UPDATE credentials SET expires_at = now() + interval '2 days' WHERE kind = 'meta'")
    lifecycle = "SELECT access_token_ciphertext, expires_at, refresh_claimed_until FROM credentials WHERE kind = 'meta'"
    before = sql(lifecycle)
    calls = len(sandbox.state.calls)

    env = app_env(settings, **sandbox_env(sandbox.url))
    done = subprocess.run([sys.executable, "-m", "jobs.refresh_tokens", "--dry-run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    meta_id = sql("SELECT id FROM meta_accounts")[0][0]
    assert f"would refresh meta-{meta_id} (Sandbox Owner) by fb_exchange_token" in done.stdout
    assert "dry run: 1 token(s) would be refreshed; nothing was changed" in done.stdout
    assert sql(lifecycle) == before
    assert len(sandbox.state.calls) == calls
    assert _log(sql) == []
    # The real run afterwards still finds it: the dry run claimed nothing.
    assert _refresh(settings).outcomes == {"refreshed": 1}


def _instagram_login_account(sql, settings, sandbox, *, hours_old: float) -> tuple[int, str]:
    """An Instagram Login account (own token, 3 days left) whose token was issued `hours_old` hours ago."""
    ig = next(iter(sandbox.state.instagram.values()))
    token = sandbox.state.issue_token("instagram", ig.id, ["instagram_business_basic"], lifetime=3 * 86400)
    sandbox.state.age_tokens(hours_old, value=token.value)
    row = sql("INSERT INTO instagram_accounts (user_id, ig_user_id, username, token_kind) "
              "SELECT id, %s, %s, 'instagram_login' FROM users RETURNING id", (ig.id, ig.username))
    plant_credential(sql, settings, "instagram", row[0][0], token.value, "instagram_login",
                     expires_at="now() + interval '3 days'",
                     last_refreshed_at=f"now() - make_interval(secs => {hours_old * 3600})")
    return row[0][0], token.value


def test_an_instagram_token_younger_than_a_day_is_not_refreshed_an_older_one_is(auth, sandbox, sql, settings):
    auth.register()
    account_id, token = _instagram_login_account(sql, settings, sandbox, hours_old=2)

    assert _refresh(settings).outcomes == {}
    assert sandbox.state.calls_to("refresh_access_token") == 0
    assert stored_token(settings, sql, "instagram", account_id) == token

    sandbox.state.age_tokens(23, value=token)
    sql("UPDATE credentials SET last_refreshed_at = last_refreshed_at - interval '23 hours' WHERE kind = 'instagram'")
    assert _refresh(settings).outcomes == {"refreshed": 1}
    assert sandbox.state.calls_to("refresh_access_token") == 1
    assert stored_token(settings, sql, "instagram", account_id) != token
    assert _log(sql) == [("instagram", account_id, "ig_refresh_token", "refreshed", None)]


def test_a_revoked_token_asks_the_user_to_reconnect_and_reconnecting_clears_it(auth, browser, sandbox, sql, settings):
    _connect_meta(auth, browser)
    meta_id = sql("SELECT id FROM meta_accounts")[0][0]
    sql("UPDATE credentials SET expires_at = now() + interval '3 days' WHERE kind = 'meta'")
    assert 'data-reauth' not in browser.get("/").text
    sandbox.state.revoke_tokens(kind="user_long")

    assert _refresh(settings).outcomes == {"needs_reauth": 1}

    assert _log(sql) == [("meta", meta_id, "fb_exchange_token", "needs_reauth", "190/458")]
    assert sql("SELECT status FROM credentials WHERE kind = 'meta'") == [("needs_reauth",)]
    assert set(sql("SELECT status FROM credentials WHERE kind = 'page'")) == {("needs_reauth",)}
    page = browser.get("/").text
    assert f'data-reauth="meta-{meta_id}"' in page
    assert f'href="/connect/meta" data-reconnect="meta-{meta_id}"' in page
    statuses = {a["id"]: a["status"] for a in browser.api("GET", "/api/accounts").json()["accounts"]}
    assert statuses[f"meta-{meta_id}"] == "needs_reauth"

    # It is not retried: the next run leaves it alone.
    assert _refresh(settings).outcomes == {}
    assert len(_log(sql)) == 1

    assert consent(browser, "/connect/meta").status_code == 302
    assert "data-reauth" not in browser.get("/").text
    assert sql("SELECT status FROM credentials WHERE kind = 'meta'") == [("active",)]
    assert set(sql("SELECT status FROM credentials WHERE kind = 'page'")) == {("active",)}


def test_a_token_meta_found_expired_is_active_again_everywhere_after_reconnecting(auth, browser, sandbox, sql):
    """The check that found the old token expired says nothing about the new one (every screen shows active)."""
    _connect_meta(auth, browser)
    sandbox.state.expire_tokens()
    checked = browser.api("POST", "/api/token-health/validate").json()["accounts"]
    assert {a["kind"]: a["status"] for a in checked}["meta"] == "needs_reauth"
    assert "data-reauth" in browser.get("/").text

    assert consent(browser, "/connect/meta").status_code == 302
    accounts = browser.api("GET", "/api/accounts").json()["accounts"]
    assert {a["kind"]: a["status"] for a in accounts} == {"facebook": "active", "instagram": "active"}
    health = browser.api("GET", "/api/token-health").json()["accounts"]
    assert {a["kind"]: (a["status"], a["cached"]) for a in health} == {"meta": ("active", False),
                                                                      "instagram": ("active", False)}
    assert {p["status"] for p in browser.api("GET", "/api/pages").json()["pages"]} == {"active"}
    assert "data-reauth" not in browser.get("/").text


def test_a_rate_limit_answer_does_not_flag_the_account(auth, browser, sandbox, sql, settings):
    _connect_meta(auth, browser)
    sql("UPDATE credentials SET expires_at = now() + interval '3 days' WHERE kind = 'meta'")
    sandbox.state.add_fault(4, times=1, path_contains="/oauth/access_token")

    assert _refresh(settings).outcomes == {"rate_limited": 1}

    assert _log(sql)[0][3:] == ("rate_limited", "4")
    assert sql("SELECT status, refresh_claimed_until > now() FROM credentials WHERE kind = 'meta'") == [
        ("active", True)]
    assert "data-reauth" not in browser.get("/").text
    # Left for a later run: once the wait is over it is refreshed.
    sql("UPDATE credentials SET refresh_claimed_until = now() - interval '1 second' WHERE kind = 'meta'")
    assert _refresh(settings).outcomes == {"refreshed": 1}


def test_tiktok_refresh_stores_the_new_refresh_token_and_invalid_grant_flags_it(auth, browser, sandbox, sql, settings):
    auth.register()
    assert consent(browser, "/connect/tiktok").status_code == 302
    account_id = sql("SELECT id FROM tiktok_accounts")[0][0]
    old_refresh = stored_token(settings, sql, "tiktok", account_id, "refresh_token")
    sql("UPDATE credentials SET last_refreshed_at = now() - interval '1 day' WHERE kind = 'tiktok'")

    assert _refresh(settings).outcomes == {"refreshed": 1}
    new_refresh = stored_token(settings, sql, "tiktok", account_id, "refresh_token")
    assert new_refresh != old_refresh and sandbox.state.tokens[new_refresh].kind == "tiktok_refresh"

    sandbox.state.revoke_tokens(kind="tiktok_refresh")
    sql("UPDATE credentials SET last_refreshed_at = now() - interval '1 day' WHERE kind = 'tiktok'")
    assert _refresh(settings).outcomes == {"needs_reauth": 1}
    assert _log(sql)[-1][2:] == ("tiktok_refresh_token", "needs_reauth", "invalid_grant")
    assert f'href="/connect/tiktok" data-reconnect="tiktok-{account_id}"' in browser.get("/").text


def _meta_fleet(sandbox, sql, settings, count: int) -> None:
    """`count` Facebook logins of the registered user, each with its own token, 3 days from expiry."""
    owner = sandbox.state.default_meta_user()
    for i in range(count):
        token = sandbox.state.issue_token("user_long", owner.id, ["pages_show_list"], lifetime=3 * 86400)
        account_id = sql("INSERT INTO meta_accounts (user_id, meta_user_id, name) SELECT id, %s, %s FROM users "
                         "RETURNING id", (f"fleet-{i}", f"Fleet {i}"))[0][0]
        plant_credential(sql, settings, "meta", account_id, token.value, "long_lived_user",
                         expires_at="now() + interval '3 days'")


def test_accounts_written_together_each_keep_their_own_outcome(auth, sandbox, sql, settings):
    auth.register()
    _meta_fleet(sandbox, sql, settings, 5)
    ig_id, ig_token = _instagram_login_account(sql, settings, sandbox, hours_old=25)
    sandbox.state.revoke_tokens(value=ig_token)
    sandbox.state.add_fault(4, times=1, path_contains="/oauth/access_token")

    summary = _refresh(settings, concurrency=3, batch=2, max_pause=0.05)

    assert summary.outcomes == {"refreshed": 4, "needs_reauth": 1, "rate_limited": 1}
    log = _log(sql)
    assert sorted(row[3] for row in log) == ["needs_reauth"] + ["rate_limited"] + ["refreshed"] * 4
    assert ("instagram", ig_id, "ig_refresh_token", "needs_reauth", "190/458") in log
    limited = next(row[1] for row in log if row[3] == "rate_limited")
    assert sql("SELECT status, refresh_claimed_until > now() FROM credentials WHERE kind = 'meta' AND account_id = %s",
               (limited,)) == [("active", True)]
    assert sql("SELECT count(*) FROM credentials WHERE kind = 'meta' AND expires_at > now() + interval '59 days' "
               "AND refresh_claimed_until IS NULL") == [(4,)]
    assert sql("SELECT status FROM credentials WHERE kind = 'instagram' AND account_id = %s", (ig_id,)) == [
        ("needs_reauth",)]


@pytest.mark.slow
def test_the_job_slows_down_as_usage_nears_the_limit_and_is_never_refused(auth, sandbox, sql, settings):
    auth.register()
    _meta_fleet(sandbox, sql, settings, 14)  # 28 calls: the exchange and /me/accounts for each
    sandbox.state.set_call_limit(20, 2.0)

    summary = refresh_tokens.run(settings, concurrency=3, out=lambda line: None,
                                 client_options={"slow_down_at": 50, "max_slowdown": 2.0, "backoff": 0.01})

    assert summary.outcomes == {"refreshed": 14}
    assert 80 <= sandbox.state.usage_peak < 100  # it came near the limit, and never over it
    assert summary.seconds > 2.0  # 28 calls at full speed take a fraction of a second


def test_a_job_whose_database_goes_away_stops_without_working_through_its_queue(auth, sandbox, sql, settings):
    auth.register()
    _meta_fleet(sandbox, sql, settings, 30)
    sandbox.state.set_latency(100)
    exchanges = sandbox.state.calls_to("/oauth/access_token")

    def cut_the_database():  # once the job is under way, its connections are dropped
        while sandbox.state.calls_to("/oauth/access_token") < exchanges + 2:
            time.sleep(0.01)
        sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'insta-connect-refresh-tokens'")

    cutter = threading.Thread(target=cut_the_database)
    cutter.start()
    with pytest.raises(DatabaseUnavailable):
        _refresh(settings, concurrency=2, batch=30)
    cutter.join(10)
    # The accounts still queued were not sent to Meta: at most those in the workers' hands when it broke.
    assert sandbox.state.calls_to("/oauth/access_token") - exchanges <= 8


def test_two_refresh_jobs_started_at_once_never_refresh_the_same_account_twice(auth, sandbox, sql, settings):
    auth.register()
    _meta_fleet(sandbox, sql, settings, 40)
    sandbox.state.set_latency(10)
    exchanges = sandbox.state.calls_to("/oauth/access_token")
    results, gate = [], threading.Barrier(2)

    def job():
        gate.wait()
        results.append(_refresh(settings, concurrency=3, batch=4))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sum(r.outcomes["refreshed"] for r in results) == 40
    assert sandbox.state.calls_to("/oauth/access_token") == exchanges + 40
    assert sql("SELECT count(*), count(DISTINCT account_id) FROM token_refresh_log") == [(40, 40)]
    assert sql("SELECT count(*) FROM credentials WHERE kind = 'meta' "
               "AND expires_at > now() + interval '59 days'") == [(40,)]


def test_token_health_answers_from_cache_for_five_minutes_then_asks_again(auth, browser, sandbox, sql):
    _connect_meta(auth, browser)
    # Connected a while ago: the test moves the checks back in time below, and a check older than the
    # token it is about would not count at all.
    sql("UPDATE credentials SET last_refreshed_at = now() - interval '1 hour', created_at = now() - interval '1 hour'")
    first = browser.api("GET", "/api/token-health")
    assert first.status_code == 200
    health = {a["kind"]: a for a in first.json()["accounts"]}
    assert set(health) == {"meta", "instagram"}
    assert health["meta"]["is_valid"] is True and health["meta"]["cached"] is False
    assert health["meta"]["status"] == "active" and "pages_show_list" in health["meta"]["scopes"]
    assert health["meta"]["data_access_expires_at"]
    asked = sandbox.state.calls_to("/debug_token")

    again = browser.api("GET", "/api/token-health").json()["accounts"]
    assert all(a["cached"] for a in again) and sandbox.state.calls_to("/debug_token") == asked

    sql("UPDATE token_health SET checked_at = checked_at - interval '4 minutes'")
    browser.api("GET", "/api/token-health")
    assert sandbox.state.calls_to("/debug_token") == asked

    sql("UPDATE token_health SET checked_at = checked_at - interval '2 minutes'")
    stale = browser.api("GET", "/api/token-health").json()["accounts"]
    assert not any(a["cached"] for a in stale) and sandbox.state.calls_to("/debug_token") == asked + 2

    assert browser.api("DELETE", "/api/token-health/cache").json() == {"cleared": 2}
    browser.api("GET", "/api/token-health")
    assert sandbox.state.calls_to("/debug_token") == asked + 4


def test_forced_validation_finds_a_revoked_token_and_is_rate_limited(auth, browser, sandbox, sql, settings):
    _connect_meta(auth, browser)
    browser.api("GET", "/api/token-health")
    sandbox.state.revoke_tokens(kind="user_long")

    # The cache still says valid; forcing asks Meta, which says the user removed the app.
    validated = browser.api("POST", "/api/token-health/validate")
    assert validated.status_code == 200
    meta = next(a for a in validated.json()["accounts"] if a["kind"] == "meta")
    assert meta["is_valid"] is False and meta["status"] == "needs_reauth" and meta["reconnect"] == "/connect/meta"
    assert meta["error"]["code"] == "190/458"
    assert sql("SELECT status FROM credentials WHERE kind = 'meta'") == [("needs_reauth",)]
    assert "data-reauth" in browser.get("/").text

    for _ in range(9):
        assert browser.api("POST", "/api/token-health/validate").status_code == 200
    limited = browser.api("POST", "/api/token-health/validate")
    assert limited.status_code == 429 and limited.headers.get("Retry-After")


def test_fix_refreshes_now_and_others_ids_are_not_found(auth, browser, sandbox, sql):
    accounts = _connect_meta(auth, browser)
    meta_id = next(a["id"] for a in accounts if a["id"].startswith("meta-"))
    before = sql("SELECT access_token_ciphertext FROM credentials WHERE kind = 'meta'")

    fixed = browser.api("POST", f"/api/token-health/accounts/{meta_id}/fix")
    assert fixed.status_code == 200 and fixed.json()["outcome"] == "refreshed"
    assert sql("SELECT access_token_ciphertext FROM credentials WHERE kind = 'meta'") != before

    sandbox.state.revoke_tokens(kind="user_long")
    refused = browser.api("POST", f"/api/token-health/accounts/{meta_id}/fix")
    assert refused.status_code == 409 and refused.json()["reconnect"] == "/connect/meta"

    auth.logout()
    auth.register("other@example.com")
    assert browser.api("POST", f"/api/token-health/accounts/{meta_id}/fix").status_code == 404
    assert browser.api("POST", "/api/token-health/accounts/meta-99999/fix").status_code == 404
    assert browser.api("GET", "/api/token-health").json()["accounts"] == []


def test_monitor_job_flags_a_revoked_token_and_skips_fresh_answers(auth, browser, sandbox, sql, settings):
    _connect_meta(auth, browser)
    sandbox.state.revoke_tokens(kind="user_long")

    counts = monitor_tokens.run(settings, batch=1)
    assert counts == {"needs_reauth": 2}
    assert sql("SELECT status FROM credentials WHERE kind = 'meta'") == [("needs_reauth",)]
    asked = sandbox.state.calls_to("/debug_token")
    assert monitor_tokens.run(settings) == {"cached": 2}
    assert sandbox.state.calls_to("/debug_token") == asked
