"""TikTok's 2-hour tokens (SPEC 9): the sandbox rotates refresh tokens as TikTok does, a call refreshes a token
that is nearly out first, one writer per account, and the 30-minute run."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests

from tests.support.live import consent
from tests.support.rows import stored_token
from webhook_app.accounts import graph
from webhook_app.accounts.data_sync import DataSync
from webhook_app.tokens import refresh_run, tiktok_tokens
from webhook_app.tokens.vault import from_settings as vault_from_settings

pytestmark = pytest.mark.sandbox

TOKEN_CALLS = "/tiktok/v2/oauth/token/"


def _token_call(sandbox, **data):
    data.update(client_key="sandbox-client-key", client_secret=sandbox.state.app_secret)
    return requests.post(f"{sandbox.url}/tiktok/v2/oauth/token/", data=data, timeout=10)


def _connect_tiktok(auth, browser, sql) -> int:
    auth.register()
    assert consent(browser, "/connect/tiktok").status_code == 302
    return sql("SELECT id FROM tiktok_accounts")[0][0]


def _issued_two_hours_ago(sandbox, sql) -> None:
    """The access token the account holds was issued 2 hours ago: TikTok no longer takes it."""
    sandbox.state.age_tokens(2, kind="tiktok_access")
    sandbox.state.expire_tokens(kind="tiktok_access")
    sql("UPDATE credentials SET expires_at = now() - interval '1 second', "
        "last_refreshed_at = now() - interval '2 hours' WHERE kind = 'tiktok'")


def _data_sync(db, settings) -> DataSync:
    return DataSync(db, vault_from_settings(settings), graph.meta_client(settings), graph.instagram_client(settings),
                    graph.tiktok_client(settings), spacing=0, sleep=lambda s: None)


def test_the_sandbox_issues_two_hour_tokens_and_voids_a_refresh_token_once_rotated(auth, browser, sandbox, sql,
                                                                                  settings):
    account_id = _connect_tiktok(auth, browser, sql)
    # What the app stored from the code exchange: 2 hours and 180 days.
    assert sql("SELECT expires_at - now() BETWEEN interval '119 minutes' AND interval '2 hours', "
               "refresh_expires_at - now() BETWEEN interval '179 days' AND interval '180 days' "
               "FROM credentials WHERE kind = 'tiktok'") == [(True, True)]
    first = stored_token(settings, sql, "tiktok", account_id, "refresh_token")

    rotated = _token_call(sandbox, grant_type="refresh_token", refresh_token=first)
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["expires_in"] == 7200 and body["refresh_expires_in"] == 180 * 86400
    assert body["refresh_token"] != first and body["open_id"] == sandbox.state.default_tiktok_user().open_id

    again = _token_call(sandbox, grant_type="refresh_token", refresh_token=first)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert _token_call(sandbox, grant_type="refresh_token", refresh_token=body["refresh_token"]).status_code == 200


def test_an_access_token_two_hours_old_is_refreshed_before_the_call_that_needs_it(auth, browser, sandbox, sql,
                                                                                  settings, db):
    account_id = _connect_tiktok(auth, browser, sql)
    old_access = stored_token(settings, sql, "tiktok", account_id)
    old_refresh = stored_token(settings, sql, "tiktok", account_id, "refresh_token")
    _issued_two_hours_ago(sandbox, sql)
    calls = sandbox.state.calls_to(TOKEN_CALLS)

    report = _data_sync(db, settings).run()

    assert report.synced == [f"tiktok-{account_id}"] and report.failed == {}
    assert sandbox.state.calls_to(TOKEN_CALLS) == calls + 1
    new_access = stored_token(settings, sql, "tiktok", account_id)
    new_refresh = stored_token(settings, sql, "tiktok", account_id, "refresh_token")
    assert new_access != old_access and sandbox.state.token_problem(sandbox.state.tokens[new_access]) is None
    # The rotated refresh token was kept; the one it replaced is dead at TikTok.
    assert new_refresh != old_refresh and sandbox.state.token_problem(sandbox.state.tokens[new_refresh]) is None
    assert sandbox.state.token_problem(sandbox.state.tokens[old_refresh]) == "revoked"
    assert sql("SELECT expires_at > now() + interval '110 minutes', status FROM credentials WHERE kind = 'tiktok'") \
        == [(True, "active")]
    assert sql("SELECT method, outcome FROM token_refresh_log") == [("tiktok_refresh_token", "refreshed")]
    assert sql("SELECT count(*) FROM account_metrics WHERE tiktok_account_id = %s", (account_id,)) == [(1,)]


def test_a_token_with_more_than_ten_minutes_left_is_used_as_it_is(auth, browser, sandbox, sql, settings, db):
    account_id = _connect_tiktok(auth, browser, sql)
    sql("UPDATE credentials SET expires_at = now() + interval '11 minutes' WHERE kind = 'tiktok'")
    token = stored_token(settings, sql, "tiktok", account_id)
    calls = sandbox.state.calls_to(TOKEN_CALLS)
    assert _data_sync(db, settings).run().synced == [f"tiktok-{account_id}"]
    assert sandbox.state.calls_to(TOKEN_CALLS) == calls
    assert stored_token(settings, sql, "tiktok", account_id) == token

    # Nine minutes left: refreshed first.
    sql("UPDATE credentials SET expires_at = now() + interval '9 minutes' WHERE kind = 'tiktok'")
    sql("UPDATE tiktok_accounts SET last_synced_at = NULL")
    assert _data_sync(db, settings).run().synced == [f"tiktok-{account_id}"]
    assert sandbox.state.calls_to(TOKEN_CALLS) == calls + 1
    assert stored_token(settings, sql, "tiktok", account_id) != token


def _account_row(db, account_id: int) -> dict:
    return next(r for r in db.all("tiktok_accounts_due_for_data_sync", hours=0) if r["id"] == account_id)


def test_two_refreshers_at_once_make_one_refresh_call_and_both_get_the_new_token(auth, browser, sandbox, sql,
                                                                               settings, db):
    account_id = _connect_tiktok(auth, browser, sql)
    _issued_two_hours_ago(sandbox, sql)
    row = _account_row(db, account_id)          # both read the account before either refreshes
    sandbox.state.set_latency(300)              # TikTok takes its time: the second arrives while the first waits
    calls = sandbox.state.calls_to(TOKEN_CALLS)
    vault, got, failures = vault_from_settings(settings), [], []
    start = threading.Barrier(2)

    def use_the_account():
        try:
            start.wait()
            got.append(tiktok_tokens.access_token(db, vault, graph.tiktok_client(settings), row))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=use_the_account) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    sandbox.state.set_latency(0)

    assert failures == []
    assert sandbox.state.calls_to(TOKEN_CALLS) == calls + 1
    assert len(got) == 2 and got[0] == got[1] == stored_token(settings, sql, "tiktok", account_id)
    assert sandbox.state.token_problem(sandbox.state.tokens[got[0]]) is None
    refresh = stored_token(settings, sql, "tiktok", account_id, "refresh_token")
    assert sandbox.state.token_problem(sandbox.state.tokens[refresh]) is None
    assert sql("SELECT status FROM credentials WHERE kind = 'tiktok'") == [("active",)]
    assert sql("SELECT outcome FROM token_refresh_log") == [("refreshed",)]


def test_the_timer_run_and_a_call_at_the_same_moment_refresh_once_and_nobody_is_locked_out(auth, browser, sandbox,
                                                                                         sql, settings, db):
    account_id = _connect_tiktok(auth, browser, sql)
    sql("UPDATE credentials SET expires_at = now() + interval '5 minutes' WHERE kind = 'tiktok'")
    row = _account_row(db, account_id)
    sandbox.state.set_latency(300)
    calls = sandbox.state.calls_to(TOKEN_CALLS)
    vault, results = vault_from_settings(settings), {}
    start = threading.Barrier(2)

    def timer_run():
        start.wait()
        results["run"] = refresh_run.run(settings, only_kind="tiktok", window=timedelta(hours=1),
                                         out=lambda line: None)

    def a_call():
        start.wait()
        results["call"] = tiktok_tokens.access_token(db, vault, graph.tiktok_client(settings), row)

    threads = [threading.Thread(target=timer_run), threading.Thread(target=a_call)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sandbox.state.set_latency(0)

    assert sandbox.state.calls_to(TOKEN_CALLS) == calls + 1
    assert results["call"] == stored_token(settings, sql, "tiktok", account_id)
    # Whoever came second found the token fresh (the timer run may even have found it no longer due).
    assert results["run"].outcomes in ({}, {"refreshed": 1})
    assert sql("SELECT status FROM credentials WHERE kind = 'tiktok'") == [("active",)]
    refresh = stored_token(settings, sql, "tiktok", account_id, "refresh_token")
    assert sandbox.state.token_problem(sandbox.state.tokens[refresh]) is None


def test_the_thirty_minute_run_refreshes_tiktok_tokens_expiring_within_the_hour_only(auth, browser, sandbox, sql,
                                                                                   settings):
    account_id = _connect_tiktok(auth, browser, sql)
    assert consent(browser, "/connect/meta").status_code == 302
    sql("UPDATE credentials SET expires_at = now() + interval '3 days' WHERE kind = 'meta'")
    calls = sandbox.state.calls_to(TOKEN_CALLS)

    # Fresh from the connect: 2 hours left, not due yet; the Facebook login is not this run's business.
    assert refresh_run.run(settings, only_kind="tiktok", window=timedelta(hours=1), out=lambda l: None).outcomes == {}
    sql("UPDATE credentials SET expires_at = now() + interval '50 minutes' WHERE kind = 'tiktok'")
    summary = refresh_run.run(settings, only_kind="tiktok", window=timedelta(hours=1), out=lambda l: None)

    assert summary.outcomes == {"refreshed": 1}
    assert sandbox.state.calls_to(TOKEN_CALLS) == calls + 1
    assert sql("SELECT account_kind, account_id, outcome FROM token_refresh_log") == [
        ("tiktok", account_id, "refreshed")]
    assert sql("SELECT expires_at > now() + interval '110 minutes', refresh_claimed_until IS NULL OR "
               "refresh_claimed_until <= now() FROM credentials WHERE kind = 'tiktok'") == [(True, True)]
    assert sql("SELECT expires_at < now() + interval '4 days' FROM credentials WHERE kind = 'meta'") == [(True,)]


def test_a_refused_refresh_token_asks_the_user_to_reconnect_tiktok(auth, browser, sandbox, sql, settings, db):
    account_id = _connect_tiktok(auth, browser, sql)
    _issued_two_hours_ago(sandbox, sql)
    sandbox.state.revoke_tokens(kind="tiktok_refresh")

    report = _data_sync(db, settings).run()

    assert f"tiktok-{account_id}" in report.failed
    assert sql("SELECT status FROM credentials WHERE kind = 'tiktok'") == [("needs_reauth",)]
    listed = {a["id"]: a for a in browser.api("GET", "/api/accounts").json()["accounts"]}
    assert listed[f"tiktok-{account_id}"]["status"] == "needs_reauth"
    assert "older than 180 days" in listed[f"tiktok-{account_id}"]["status_reason"]
    page = browser.get("/").text
    assert f'href="/connect/tiktok" data-reconnect="tiktok-{account_id}"' in page
    assert sql("SELECT outcome, error_code FROM token_refresh_log") == [("needs_reauth", "invalid_grant")]


@pytest.mark.slow  # starts the job as the timer does, in a subprocess
def test_the_timer_s_command_refreshes_a_tiktok_token_expiring_within_the_hour(auth, browser, sandbox, sql,
                                                                             settings):
    import subprocess
    import sys

    from tests.support.live import ROOT, app_env
    from webhook_app.sandbox import sandbox_env

    account_id = _connect_tiktok(auth, browser, sql)
    sql("UPDATE credentials SET expires_at = now() + interval '40 minutes' WHERE kind = 'tiktok'")
    env = app_env(settings, **sandbox_env(sandbox.url))

    dry = subprocess.run([sys.executable, "-m", "jobs.refresh_tiktok", "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert f"would refresh tiktok-{account_id}" in dry.stdout and "1 token(s) would be refreshed" in dry.stdout

    done = subprocess.run([sys.executable, "-m", "jobs.refresh_tiktok"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refreshed 1" in done.stdout
    assert sql("SELECT expires_at > now() + interval '110 minutes' FROM credentials WHERE kind = 'tiktok'") == [
        (True,)]


@pytest.mark.parametrize("fault, times, status, words", [
    (200, 1, "needs_reauth", "took back a permission"),                  # scope_not_authorized
    (190, 2, "needs_reauth", "refused this account's access token"),     # access_token_invalid, even renewed
    (190, 1, "active", None),                  # refused early once: renewed, and the new one is taken
    (4, 1, "active", None),                    # rate_limit_exceeded: wait, do not flag
])
def test_tiktok_error_codes_flag_the_account_or_wait(fault, times, status, words, auth, browser, sandbox, sql):
    account_id = _connect_tiktok(auth, browser, sql)
    sandbox.state.add_fault(fault, times=times, api="tiktok", path_contains="/user/info/")

    checked = browser.api("POST", "/api/token-health/validate").json()["accounts"]

    assert [a["status"] for a in checked] == [status]
    listed = browser.api("GET", "/api/accounts").json()["accounts"][0]
    assert listed["id"] == f"tiktok-{account_id}" and listed["status"] == status
    if words:
        assert words in listed["status_reason"]
    else:
        assert listed["status_reason"] is None
    renewed = sql("SELECT outcome FROM token_refresh_log")
    assert renewed == ([("refreshed",)] if fault == 190 else [])


def test_disconnect_revokes_with_a_live_token_even_when_the_stored_one_lapsed(auth, browser, sandbox, sql):
    account_id = _connect_tiktok(auth, browser, sql)
    _issued_two_hours_ago(sandbox, sql)
    user = sandbox.state.default_tiktok_user()

    assert browser.api("DELETE", f"/api/accounts/tiktok-{account_id}").status_code == 200

    # The refresh token (rotated just before the revoke) and every access token are dead at TikTok.
    assert all(sandbox.state.token_problem(t) in ("revoked", "expired")
               for t in sandbox.state.find_tokens(subject=user.open_id))
    assert [t for t in sandbox.state.find_tokens(subject=user.open_id, kind="tiktok_refresh")
            if sandbox.state.token_problem(t) is None] == []
