"""scripts/test-webhooks.sh against a real gunicorn: every check passes with the right app secret
and verify token, and the signed deliveries fail with the wrong secret (SPEC 7 is the contract)."""
from __future__ import annotations

import pytest

from tests.support.deploy import check_lines, require_tool, run_script
from tests.support.live import Gunicorn, app_env, free_port

pytestmark = pytest.mark.slow  # runs test-webhooks.sh against a live server


@pytest.fixture
def gunicorn(settings, tmp_path):
    require_tool("curl", "curl")
    require_tool("openssl", "openssl")
    server = Gunicorn(app_env(settings), workers=1, log_path=tmp_path / "gunicorn.log")
    yield server
    server.stop()


def test_test_webhooks_passes_with_the_app_secret_and_verify_token(gunicorn, settings, sql):
    result = run_script("test-webhooks.sh", gunicorn.url, settings.meta_app_secret, settings.meta_verify_token)
    lines = check_lines(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines) == 11 and all(line.startswith("PASS") for line in lines), result.stdout
    # The two signed deliveries were stored once each (the repeat counted as a duplicate); the
    # refused ones left nothing behind.
    assert [row[0] for row in sql("SELECT object FROM webhook_events ORDER BY 1")] == \
        ["page", "whatsapp_business_account"]
    assert sql("SELECT count(*), sum(duplicate_count) FROM webhook_deliveries")[0] == (2, 1)


def test_test_webhooks_fails_with_the_wrong_app_secret(gunicorn, settings):
    result = run_script("test-webhooks.sh", gunicorn.url, "not-the-secret", settings.meta_verify_token)
    assert result.returncode != 0
    failed = [line for line in check_lines(result.stdout) if line.startswith("FAIL")]
    assert any("signed with the app secret: 200" in line for line in failed), result.stdout


def test_test_webhooks_fails_when_nothing_listens(settings):
    result = run_script("test-webhooks.sh", f"http://127.0.0.1:{free_port()}", settings.meta_app_secret,
                        settings.meta_verify_token)
    assert result.returncode != 0
    assert all(line.startswith("FAIL") for line in check_lines(result.stdout))


def test_test_webhooks_needs_the_app_secret():
    result = run_script("test-webhooks.sh", "http://127.0.0.1:1")
    assert result.returncode == 2 and "APP_SECRET" in result.stderr
