"""The sandbox's world on disk (var/sandbox/world.json) and the controls a new user clicks."""
from __future__ import annotations

import dataclasses
import json
import re
import threading

import pytest
import requests

from tests.conftest import TEST_APP_SECRET
from tests.support.live import LiveServer, consent
from tests.support.webhooks import wait_until
from webhook_app.config import Settings, load_settings
from webhook_app.sandbox import PathOnlyHandler, create_sandbox_app, persistence
from webhook_app.sandbox.state import SandboxState
from webhook_app.webhooks.processor import Processor


def _world(state: SandboxState) -> dict:
    return persistence.snapshot(state)["world"]


def test_the_whole_world_survives_a_save_and_load(tmp_path):
    path = tmp_path / "world.json"
    first = SandboxState("secret")
    page = next(iter(first.pages.values()))
    token = first.issue_token("page", page.id, ["pages_show_list"], lifetime=3600)
    first.add_fault(4, times=3, api="meta")
    first.revoke_tokens(value=token.value)
    first.set_call_limit(100, 30)
    persistence.save(first, path)
    assert path.stat().st_mode & 0o077 == 0   # it holds tokens

    second = SandboxState("secret")
    assert second.pages.keys() != first.pages.keys()
    assert persistence.restore(second, path)
    assert _world(second) == _world(first)
    assert second.tokens[token.value].revoked and second.token_problem(second.tokens[token.value]) == "revoked"
    assert second.faults[0].code == 4 and second.call_limit == (100, 30.0)
    assert second.default_meta_user().page_ids == first.default_meta_user().page_ids


def test_an_older_file_loads_with_new_fields_defaulted_and_unknown_ones_dropped(tmp_path):
    path = tmp_path / "world.json"
    state = SandboxState("secret")
    persistence.save(state, path)
    data = json.loads(path.read_text())
    world = data["world"]
    page_id, page = next(iter(world["pages"].items()))
    del page["category"]                      # written before the field existed
    page["retired_field"] = "x"               # a field since removed
    world["pages"]["gone"] = {"__dataclass__": "webhook_app.sandbox.state:NoLongerThere", "id": "gone"}
    world["tokens"]["bad"] = {"__dataclass__": "os:system", "value": "rm"}   # never built from a file
    world["old_attribute"] = [1, 2]
    del world["wabas"]                        # an attribute the old file did not have
    path.write_text(json.dumps(data))

    loaded = SandboxState("secret")
    fresh_wabas = dict(loaded.wabas)
    assert persistence.restore(loaded, path)
    assert loaded.pages[page_id].category == "Business"
    assert not hasattr(loaded.pages[page_id], "retired_field")
    assert "gone" not in loaded.pages and "bad" not in loaded.tokens
    assert not hasattr(loaded, "old_attribute")
    assert loaded.wabas == fresh_wabas


def test_a_new_dataclass_and_attribute_persist_without_code(tmp_path, monkeypatch):
    """What another helper adding to state.py gets for free."""
    from webhook_app.sandbox import state as state_module

    @dataclasses.dataclass
    class Rotation:
        refresh_token: str
        generation: int = 1

    Rotation.__qualname__ = "Rotation"
    Rotation.__module__ = state_module.__name__   # as if written in state.py
    monkeypatch.setattr(state_module, "Rotation", Rotation, raising=False)
    first = SandboxState("secret")
    first.rotations = {"a": Rotation("rft.1", 3)}
    first.by_pair = {("meta", 7): {1, 2}, (3, "x"): None}
    first.session = threading.Lock()   # not saveable: left out, the rest is saved
    persistence.save(first, tmp_path / "w.json")
    second = SandboxState("secret")
    second.rotations, second.by_pair, second.session = {}, {}, "fresh"
    persistence.restore(second, tmp_path / "w.json")
    assert second.rotations == {"a": Rotation("rft.1", 3)}
    assert second.by_pair == {("meta", 7): {1, 2}, (3, "x"): None}
    assert second.session == "fresh"


def test_an_unreadable_file_starts_a_new_world(tmp_path):
    path = tmp_path / "world.json"
    path.write_text("{not json")
    assert persistence.restore(SandboxState("s"), path) is False


def test_the_served_sandbox_saves_after_each_change_and_loads_at_start(tmp_path):
    path = tmp_path / "sandbox" / "world.json"
    settings = Settings(meta_app_secret=TEST_APP_SECRET)
    app = create_sandbox_app(settings, world_path=path)
    live = LiveServer(app, request_handler=PathOnlyHandler).start()
    try:
        answer = requests.post(live.url + "/_sandbox/api/seed", json={"pages": 2}, timeout=10)
        assert answer.json() == {"pages": 2}
        wait_until(lambda: len(json.loads(path.read_text())["world"]["pages"]) == 4, 5)
    finally:
        live.stop()
        app.extensions["sandbox_autosave"].stop()
    again = create_sandbox_app(settings, world_path=path)
    assert {p.name for p in again.extensions["sandbox"].pages.values()} >= {"Sandbox Page 1", "Sandbox Page 2"}
    again.extensions["sandbox_autosave"].stop()


def test_job_commands_find_the_sandbox_from_var_when_no_meta_app_is_set(tmp_path):
    env = {"VAR_DIR": str(tmp_path)}
    assert load_settings(env).meta_graph_url == "http://127.0.0.1:5001/graph"   # before any sandbox ran
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "address.json").write_text(json.dumps({"url": "http://127.0.0.1:6123"}))
    found = load_settings(env)
    assert (found.meta_graph_url, found.meta_dialog_url, found.instagram_graph_url, found.tiktok_api_url,
            found.tiktok_auth_url) == ("http://127.0.0.1:6123/graph", "http://127.0.0.1:6123/facebook",
                                       "http://127.0.0.1:6123/instagram", "http://127.0.0.1:6123/tiktok",
                                       "http://127.0.0.1:6123/tiktok-web")
    # An explicit URL wins, and a real Meta app never reads the sandbox's address.
    assert load_settings({**env, "META_GRAPH_URL": "http://elsewhere"}).meta_graph_url == "http://elsewhere"
    real = load_settings({**env, "META_APP_ID": "123"})
    assert real.meta_graph_url == "https://graph.facebook.com" and real.tiktok_api_url == "https://open.tiktokapis.com"


# ---- the control page's actions, against the app over real HTTP --------------------------------

def _drain(settings):
    processor = Processor(settings, workers=1)
    try:
        return processor.run_once()
    finally:
        processor.close()


@pytest.mark.sandbox
def test_the_next_n_webhooks_fail_then_webhooks_recover(sandbox, server, settings, sql):
    """Broken samples reach the app signed and stored (200); their events go to dead letter at once (a payload
    that can never succeed is not retried, SPEC 8); the next sample is intact again."""
    owner = sql("INSERT INTO users (email, password_hash) VALUES ('fails@example.com', 'x') RETURNING id")[0][0]
    for page_id in list(sandbox.state.pages):   # the Pages are connected: events of nobody's ids are only kept
        sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES (%s, %s, 'page')", (page_id, owner))
    assert requests.post(sandbox.url + "/_sandbox/api/failing", json={"count": 2}, timeout=10).json() == {
        "failing_webhooks": 2}
    sent = [requests.post(sandbox.url + "/_sandbox/api/webhooks", json={"kind": "page_feed"}, timeout=10).json()
            for _ in range(3)]
    assert [s["status"] for s in sent] == [200, 200, 200]
    assert [s.get("broken", False) for s in sent] == [True, True, False]
    _drain(settings)
    statuses = sorted(s for (s,) in sql("SELECT status FROM webhook_events"))
    assert statuses == ["dead_letter", "dead_letter", "processed"]
    errors = sql("SELECT errors->0->>'message' FROM webhook_events WHERE status = 'dead_letter'")
    assert all("no value object" in e for (e,) in errors), errors


@pytest.mark.sandbox
def test_a_burst_sends_n_webhooks_of_the_chosen_kinds(sandbox, server, sql):
    answer = requests.post(sandbox.url + "/_sandbox/api/burst",
                           json={"count": 12, "kinds": ["instagram_message", "whatsapp_message", "page_feed"]},
                           timeout=60).json()
    assert answer["sent"] == 12 and answer["statuses"] == {"200": 12}
    assert dict(sql("SELECT object, count(*) FROM webhook_events GROUP BY object")) == {
        "instagram": 4, "whatsapp_business_account": 4, "page": 4}
    assert requests.post(sandbox.url + "/_sandbox/api/burst", json={"count": 0}, timeout=10).status_code == 400
    assert requests.post(sandbox.url + "/_sandbox/api/burst", json={"count": 1, "kinds": ["nope"]},
                         timeout=10).status_code == 400


@pytest.mark.sandbox
def test_the_verification_handshake_marks_the_app_verified(sandbox, server, browser, auth, settings):
    # `make run`'s sandbox reads the app's verify token from the shared settings; here it is given them.
    sandbox_app = sandbox.app
    sandbox_app.config["SANDBOX_SETTINGS"] = settings
    auth.register()
    assert browser.api("GET", "/api/webhook-health").json()["verified"] is False
    answer = requests.post(sandbox.url + "/_sandbox/api/verify", json={}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["verified"] is True
    assert browser.api("GET", "/api/webhook-health").json()["verified"] is True

    sandbox_app.config["SANDBOX_SETTINGS"] = settings.with_overrides(meta_verify_token="wrong")
    refused = requests.post(sandbox.url + "/_sandbox/api/verify", json={}, timeout=10)
    assert refused.status_code == 502 and refused.json()["results"][0]["status"] == 403


@pytest.mark.sandbox
def test_expire_one_account_and_reset_says_what_to_reconnect(sandbox, server, browser, auth):
    auth.register()
    assert consent(browser, "/connect/meta").status_code == 302
    page = sandbox.state.default_meta_user().page_ids[0]
    form = requests.post(sandbox.url + "/_sandbox/tokens/expire", data={"subject": page, "kind": "page"},
                         timeout=10, allow_redirects=False)
    assert form.status_code == 303
    problems = {t["subject"]: t["problem"] for t in sandbox.state.summary()["tokens"]}
    assert problems[page] == "expired" and [s for s, p in problems.items() if p] == [page]

    page_text = requests.get(sandbox.url + "/_sandbox/", timeout=10).text
    for button in ("Verify the app's webhook URLs", "Send the burst", "Fail them", "Recover (send good ones again)",
                   ">Expire</button>", ">Revoke</button>", ">monitor-tokens</button>", "Reset the sandbox"):
        assert button in page_text

    reset = requests.post(sandbox.url + "/_sandbox/reset", timeout=10)   # the page's button, followed
    assert reset.status_code == 200
    notice = re.search(r'<p role="status" id="notice"><strong>(.*?)</strong>', reset.text).group(1)
    assert "disconnect and connect again" in notice
    assert "Sandbox Coffee House" in notice and "Sandbox Owner" in notice
