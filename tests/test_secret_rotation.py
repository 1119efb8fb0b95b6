"""Two app secrets while the app secret is rotated at Meta (SPEC 7): a delivery signed with either is accepted."""
import pytest

from tests.conftest import TEST_APP_SECRET
from tests.support.live import LiveServer, consent
from tests.support.webhooks import deliver, ig_messages
from webhook_app import create_app
from webhook_app.config import load_settings


@pytest.fixture
def rotating(settings):
    app = create_app(settings.with_overrides(meta_app_secret="new-secret, old-secret"))
    live = LiveServer(app).start()
    yield live
    live.stop()
    app.extensions["database"].close()


def test_deliveries_signed_with_the_new_or_the_old_secret_are_accepted(rotating, sql):
    assert deliver(rotating.url, ig_messages("ig-1", ["new"]), secret="new-secret").status_code == 200
    assert deliver(rotating.url, ig_messages("ig-1", ["old"]), secret="old-secret").status_code == 200
    refused = deliver(rotating.url, ig_messages("ig-1", ["other"]), secret="another-secret")
    assert refused.status_code == 401
    both = deliver(rotating.url, ig_messages("ig-1", ["joined"]), secret="new-secret, old-secret")
    assert both.status_code == 401  # the list is two keys, not one
    assert sql("SELECT count(*) FROM webhook_events") == [(2,)]


def test_the_settings_read_two_secrets_newest_first():
    settings = load_settings({"META_APP_SECRET": " new-secret , old-secret ", "SECRET_KEY": "x",
                              "META_VERIFY_TOKEN": "v"})
    assert settings.meta_app_secrets == ("new-secret", "old-secret")
    assert settings.current_meta_app_secret == "new-secret"


@pytest.mark.sandbox
def test_calls_to_meta_use_the_newest_secret(settings, sandbox, sql):
    from tests.support.live import AuthActions, Browser

    app = create_app(settings.with_overrides(meta_app_secret=f"{TEST_APP_SECRET},retired-secret"))
    live = LiveServer(app).start()
    try:
        browser = Browser(live.url)
        AuthActions(browser).register()
        assert consent(browser, "/connect/meta").status_code == 302  # the sandbox checks client_secret
        assert sql("SELECT count(*) FROM pages")[0][0] == 2
    finally:
        live.stop()
        app.extensions["database"].close()
