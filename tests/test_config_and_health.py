"""Configuration from the environment, production refusals, health check and error pages."""
import base64
import subprocess
import sys

import pytest

from tests.support.live import ROOT, Browser, LiveServer
from webhook_app import create_app
from webhook_app.config import ConfigError, load_settings

KEY = base64.b64encode(b"x" * 32).decode()
PRODUCTION = {
    "APP_ENV": "production", "DATABASE_URL": "postgresql://u@localhost/db", "META_APP_ID": "123",
    "SECRET_KEY": "s", "TOKEN_ENCRYPTION_KEYS": KEY, "META_APP_SECRET": "a", "META_VERIFY_TOKEN": "v",
    "PUBLIC_BASE_URL": "https://connect.example.com",
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "META_APP_SECRET",
                                     "META_VERIFY_TOKEN", "DATABASE_URL", "META_APP_ID"])
def test_production_refuses_a_missing_setting_by_name(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(env)


def test_production_with_everything_set_loads():
    settings = load_settings(PRODUCTION)
    assert settings.production and not settings.sandbox_enabled
    assert settings.token_encryption_keys == (b"x" * 32,)


def test_the_workers_listen_on_database_listen_url_or_else_on_database_url():
    assert load_settings(PRODUCTION).listen_url == "postgresql://u@localhost/db"
    direct = "postgresql://u@db-host:5432/db"
    behind_pgbouncer = load_settings({**PRODUCTION, "DATABASE_URL": "postgresql://u@pgbouncer:6432/db",
                                      "DATABASE_LISTEN_URL": direct})
    assert (behind_pgbouncer.database_url, behind_pgbouncer.listen_url) == ("postgresql://u@pgbouncer:6432/db", direct)


@pytest.mark.slow
def test_production_start_up_fails_with_one_line_naming_the_variable():
    env = {k: v for k, v in PRODUCTION.items() if k != "META_APP_ID"}
    env["PATH"] = "/usr/bin:/bin"
    result = subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["configuration error: META_APP_ID must be set when APP_ENV=production"]


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["-m", "jobs.process_webhooks", "--once"], ["-m", "jobs.refresh_tokens"], ["-m", "jobs.monitor_tokens"],
    ["-m", "jobs.sync_templates"], ["-m", "jobs.sync_account_data"], ["-m", "jobs.prune"],
    ["-m", "jobs.rotate_keys"], ["-m", "jobs.migrate"], ["-m", "jobs.run_background_jobs"], ["-m", "webhook_app.run_local"],
])
def test_every_command_refuses_a_missing_setting_with_one_line_and_exit_2(command, tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "META_APP_ID"}
    env.update(PATH="/usr/bin:/bin", HOME=str(tmp_path))
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == ["configuration error: META_APP_ID must be set when APP_ENV=production"]


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS"):
        load_settings({**PRODUCTION, "TOKEN_ENCRYPTION_KEYS": base64.b64encode(b"short").decode()})
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({**PRODUCTION, "PORT": "eighty"})


def test_development_generates_secrets_once_into_var(tmp_path):
    env = {"VAR_DIR": str(tmp_path)}
    first, second = load_settings(env), load_settings(env)
    assert first.secret_key and first.secret_key == second.secret_key
    assert first.meta_app_secret == second.meta_app_secret
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0
    assert first.sandbox_enabled


def test_healthz_ok(browser):
    response = browser.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_503_and_json_errors_when_database_is_unreachable(settings, tmp_path):
    down = settings.with_overrides(database_url=f"postgresql://postgres@/nowhere?host={tmp_path}&connect_timeout=1")
    server = LiveServer(create_app(down)).start()
    try:
        browser = Browser(server.url)
        health = browser.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == "unavailable"
        page = browser.get("/auth/login", headers={"Accept": "text/html"})
        assert page.status_code in (200, 503)
        assert "Traceback" not in page.text and "psycopg2" not in page.text
    finally:
        server.stop()


def test_errors_are_json_for_api_and_html_for_browsers(browser):
    api = browser.get("/api/does-not-exist")
    assert api.status_code == 404 and "error" in api.json()
    page = browser.get("/does-not-exist", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "<html" in page.text and "Traceback" not in page.text
