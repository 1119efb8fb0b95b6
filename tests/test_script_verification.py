"""scripts/quick-verify.sh and scripts/test-auth-simple.sh against a real gunicorn, and against
servers that are broken in ways an operator meets: nothing listening, the database gone."""
from __future__ import annotations

import pytest

from tests.support.deploy import check_lines, require_tool, run_script
from tests.support.live import Gunicorn, app_env, free_port, with_database

pytestmark = pytest.mark.slow  # runs the verification scripts against a live server


@pytest.fixture
def gunicorn(settings, tmp_path):
    require_tool("curl", "curl")
    server = Gunicorn(app_env(settings), workers=1, log_path=tmp_path / "gunicorn.log")
    yield server
    server.stop()


def _all_pass(result) -> list[str]:
    lines = check_lines(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines and all(line.startswith("PASS") for line in lines), result.stdout
    return lines


def test_quick_verify_passes_against_a_healthy_server(gunicorn):
    lines = _all_pass(run_script("quick-verify.sh", gunicorn.url))
    assert len(lines) >= 12
    assert any("csrf-token" in line for line in lines)
    assert any("Content-Security-Policy" in line for line in lines)


def test_quick_verify_fails_when_nothing_listens():
    result = run_script("quick-verify.sh", f"http://127.0.0.1:{free_port()}")
    assert result.returncode != 0
    assert all(line.startswith("FAIL") for line in check_lines(result.stdout))
    assert "no answer" in result.stdout


def _run_against_a_server_without_its_database(script: str, settings, tmp_path):
    """The app up under gunicorn, its database gone (dropped, or a wrong DATABASE_URL)."""
    broken = settings.with_overrides(database_url=with_database(settings.database_url, "no_such_database"))
    server = Gunicorn(app_env(broken), workers=1, log_path=tmp_path / "gunicorn.log")
    try:
        return run_script(script, server.url)
    finally:
        server.stop()


def test_quick_verify_fails_when_the_database_is_gone(settings, tmp_path):
    result = _run_against_a_server_without_its_database("quick-verify.sh", settings, tmp_path)
    assert result.returncode != 0
    failed = [line for line in check_lines(result.stdout) if line.startswith("FAIL")]
    assert any("/healthz answers 200 (got 503)" in line for line in failed), result.stdout


def test_quick_verify_needs_a_base_url():
    result = run_script("quick-verify.sh")
    assert result.returncode == 2 and "usage:" in result.stderr


def test_test_auth_simple_passes_and_leaves_one_throwaway_account(gunicorn, sql):
    lines = _all_pass(run_script("test-auth-simple.sh", gunicorn.url))
    assert any("wrong password: 401" in line for line in lines)
    assert any(line.startswith("PASS  log out") for line in lines)
    emails = [row[0] for row in sql("SELECT email FROM users")]
    assert len(emails) == 1 and emails[0].startswith("verify-") and emails[0].endswith("@example.invalid")


def test_test_auth_simple_fails_when_nothing_listens():
    result = run_script("test-auth-simple.sh", f"http://127.0.0.1:{free_port()}")
    assert result.returncode != 0
    assert "FAIL  register" in result.stdout


def test_test_auth_simple_fails_when_the_database_is_gone(settings, tmp_path):
    result = _run_against_a_server_without_its_database("test-auth-simple.sh", settings, tmp_path)
    assert result.returncode != 0
    assert "FAIL  register" in result.stdout
