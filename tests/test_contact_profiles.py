"""Contact names for Instagram and Messenger (SPEC 15): looked up once, in the background, never in processing."""
import pytest
import requests

from jobs.run_background_jobs import job_handlers
from tests.support.inbox import drain
from tests.support.live import consent
from webhook_app.background_jobs import store as background_jobs
from webhook_app.conversations import profiles
from webhook_app.sandbox.samples import IG_CUSTOMERS

pytestmark = pytest.mark.sandbox


def send(sandbox, kind):
    assert requests.post(sandbox.url + "/_sandbox/api/webhooks", json={"kind": kind}, timeout=10).json()["status"] == 200


def test_instagram_contacts_get_their_names_from_the_profile_api_once(auth, browser, sandbox, server, settings,
                                                                       db, sql):
    auth.register()
    consent(browser, "/connect/meta")
    send(sandbox, "instagram_message")
    drain(settings)
    # Processing asked Meta nothing: the conversation shows a placeholder and a look-up is queued.
    assert sandbox.state.calls_to(f"/{IG_CUSTOMERS[0][0]}") == 0
    [conversation] = browser.api("GET", "/api/conversations").json()["conversations"]
    assert conversation["contact"]["label"] == "Instagram user " + IG_CUSTOMERS[0][0][-4:]
    assert sql("SELECT kind, status FROM background_jobs WHERE kind = %s", (profiles.JOB_KIND,)) == [
        (profiles.JOB_KIND, "queued")]

    sql("UPDATE background_jobs SET run_at = now()")
    assert background_jobs.run_due(db, job_handlers(db, settings)) >= 1
    contact = browser.api("GET", "/api/conversations").json()["conversations"][0]["contact"]
    assert (contact["name"], contact["username"], contact["label"]) == ("Anna Schmidt", "anna.shops", "Anna Schmidt")
    assert contact["picture_url"].startswith(sandbox.url + "/cdn/profile/")
    assert browser.api("GET", "/api/conversations?q=schmidt").json()["conversations"][0]["id"] == conversation["id"]

    # More messages from her ask nothing more.
    calls = sandbox.state.calls_to(f"/{IG_CUSTOMERS[0][0]}")
    assert calls == 1
    send(sandbox, "instagram_reply")
    drain(settings)
    sql("UPDATE background_jobs SET run_at = now()")
    background_jobs.run_due(db, job_handlers(db, settings))
    assert sandbox.state.calls_to(f"/{IG_CUSTOMERS[0][0]}") == calls


def test_a_rate_limit_pauses_the_look_ups_and_an_unknown_person_is_asked_once(auth, browser, sandbox, server,
                                                                               settings, db, sql):
    auth.register()
    consent(browser, "/connect/meta")
    send(sandbox, "instagram_message")
    send(sandbox, "instagram_postback")   # the second customer
    drain(settings)
    from webhook_app.accounts import graph
    from webhook_app.tokens.vault import from_settings

    sandbox.state.add_fault(code=4, times=1)   # Meta's "Application request limit reached"
    done = profiles.look_up(db, from_settings(settings), graph.meta_client(settings), spacing=0)
    assert done["rate_limited"] and done["found"] == 0
    assert sql("SELECT count(*) FROM contacts WHERE profile_checked_at IS NULL") == [(2,)]
    done = profiles.look_up(db, from_settings(settings), graph.meta_client(settings), spacing=0)
    assert (done["found"], done["rate_limited"]) == (2, False)
