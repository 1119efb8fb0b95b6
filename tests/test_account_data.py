"""Account data sync against the sandbox: due accounts only, a snapshot each, spaced, usage-aware; /api/metrics."""
from __future__ import annotations

import pytest

from tests.support.live import consent
from webhook_app.accounts import graph
from webhook_app.accounts.data_sync import DataSync
from webhook_app.tokens.vault import from_settings as vault_from_settings

pytestmark = pytest.mark.sandbox


def _data_sync(db, settings, pauses: list) -> DataSync:
    return DataSync(db, vault_from_settings(settings), graph.meta_client(settings, sleep=pauses.append),
                    graph.instagram_client(settings), graph.tiktok_client(settings), spacing=1.5,
                    sleep=pauses.append)


def _connect_all(auth, browser, sandbox):
    auth.register()
    sandbox.state.seed_pages(sandbox.state.default_meta_user().id, 1)    # a second Instagram account
    assert consent(browser, "/connect/meta").status_code == 302
    assert consent(browser, "/connect/tiktok").status_code == 302


def test_data_sync_skips_fresh_accounts_and_snapshots_the_others(auth, browser, sandbox, settings, db, sql):
    _connect_all(auth, browser, sandbox)
    accounts = {a["id"]: a for a in browser.api("GET", "/api/accounts").json()["accounts"]}
    instagram = sorted(a for a in accounts if a.startswith("instagram-"))
    tiktok = [a for a in accounts if a.startswith("tiktok-")]
    assert len(instagram) == 2 and len(tiktok) == 1
    fresh = instagram[0]
    sql("UPDATE instagram_accounts SET last_synced_at = now() - interval '1 hour' WHERE id = %s",
        (int(fresh.split("-")[1]),))
    ig = sandbox.state.instagram[accounts[instagram[1]]["external_id"]]
    ig.followers_count = 4321

    pauses: list = []
    report = _data_sync(db, settings, pauses).run()
    assert sorted(report.synced) == sorted([instagram[1], *tiktok]) and report.failed == {}
    assert pauses == [1.5]   # one pause between the two accounts visited
    assert sql("SELECT count(*) FROM account_metrics")[0][0] == 2

    metrics = browser.api("GET", "/api/metrics").json()
    series = {a["account_id"]: a for a in metrics["accounts"]}
    assert set(series) == {instagram[1], *tiktok}
    assert series[instagram[1]]["points"][0]["followers"] == 4321
    assert series[instagram[1]]["points"][0]["media"] == len(ig.media)
    tt = sandbox.state.default_tiktok_user()
    assert (series[tiktok[0]]["points"][0]["followers"], series[tiktok[0]]["points"][0]["media"]) == (
        tt.follower_count, tt.video_count)
    assert {m["media_id"] for m in metrics["recent_media"]} == {m["id"] for m in ig.media}

    # Run again at once: everything was synced within 12 hours, nothing is called, no new snapshot.
    calls = len(sandbox.state.calls)
    again = _data_sync(db, settings, []).run()
    assert again.synced == [] and len(sandbox.state.calls) == calls
    assert sql("SELECT count(*) FROM account_metrics")[0][0] == 2

    # Twelve hours later every account is due again and gets a second point on its chart.
    sql("UPDATE instagram_accounts SET last_synced_at = now() - interval '13 hours'")
    sql("UPDATE tiktok_accounts SET last_synced_at = now() - interval '13 hours'")
    ig.followers_count = 5000
    third = _data_sync(db, settings, []).run()
    assert len(third.synced) == 3
    series = {a["account_id"]: a for a in browser.api("GET", "/api/metrics").json()["accounts"]}
    assert [p["followers"] for p in series[instagram[1]]["points"]] == [4321, 5000]

    # Someone else sees none of it.
    auth.logout()
    auth.register("other@example.com")
    assert browser.api("GET", "/api/metrics").json() == {"accounts": [], "recent_media": []}


def test_data_sync_is_spaced_and_stops_when_usage_is_nearly_spent(auth, browser, sandbox, settings, db, sql):
    _connect_all(auth, browser, sandbox)
    pauses: list = []
    sandbox.state.set_usage(97)
    report = _data_sync(db, settings, pauses).run()
    # The first Instagram account is read; Meta says 97 % of the budget is used: the second waits.
    assert len(report.synced) == 2 and len(report.deferred) == 1
    assert [r for r in report.synced if r.startswith("instagram-")] and report.deferred[0].startswith("instagram-")
    # The client slowed down above 80 % (8.5 s at 97 %), and the TikTok call was spaced from it.
    assert pauses == [8.5, 8.5, 1.5]
    assert sql("SELECT count(*) FROM instagram_accounts WHERE last_synced_at IS NULL")[0][0] == 1

    sandbox.state.set_usage(3)
    pauses.clear()
    later = _data_sync(db, settings, pauses).run()
    assert later.synced == report.deferred
    assert pauses == []   # one account only: nothing to space


def test_a_failing_account_keeps_its_error_and_the_others_still_sync(auth, browser, sandbox, settings, db, sql):
    _connect_all(auth, browser, sandbox)
    sandbox.state.add_fault(190, api="tiktok", times=None)
    report = _data_sync(db, settings, []).run()
    assert len(report.synced) == 2 and [a.split("-")[0] for a in report.failed] == ["tiktok"]
    assert sql("SELECT last_data_sync_error IS NOT NULL, last_synced_at IS NULL FROM tiktok_accounts") == [
        (True, True)]
