"""scripts/deploy.sh: clean shell, a dry run that lists every step and touches nothing, and an env
file whose generated secrets survive every later run."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.support.deploy import SCRIPTS, require_tool, run_script
from webhook_app.config import load_settings, parse_encryption_keys

pytestmark = pytest.mark.slow  # runs deploy.sh and shellcheck

STEPS = ["packages", "user", "code", "venv", "secrets", "database", "units", "migrate", "nginx", "tls",
         "start", "verify"]


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("META_", "TIKTOK_"))}
    env.update(APP_DIR=str(tmp_path / "opt"), ETC_DIR=str(tmp_path / "etc"), **extra)
    return env


def _env_file(path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_every_script_is_clean_for_bash_and_shellcheck():
    scripts = sorted(SCRIPTS.glob("*.sh")) + sorted((SCRIPTS / "lib").glob("*.sh"))
    assert len(scripts) >= 8
    for script in scripts:
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{script.name}: {syntax.stderr}"
    shellcheck = require_tool("shellcheck", "shellcheck")
    lint = subprocess.run([shellcheck, "-x", *map(str, scripts)], capture_output=True, text=True, cwd=SCRIPTS)
    assert lint.returncode == 0, lint.stdout


def test_dry_run_lists_every_step_with_its_commands_and_changes_nothing(tmp_path):
    result = run_script("deploy.sh", "--dry-run", "--local", "--domain", "connect.example.com",
                        "--email", "ops@example.com", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.findall(r"^==> step \d+: (\w+):", out, re.M) == STEPS
    for command in ("apt-get install", "adduser --system", "python3 -m venv", "openssl rand -base64 32",
                    "psql", "systemctl daemon-reload", "systemctl start insta-connect-migrate.service",
                    "nginx -t", "certbot certonly --webroot", "systemctl enable --now insta-connect-web.service",
                    "quick-verify.sh http://127.0.0.1:8000"):
        assert command in out, command
    assert f"{tmp_path}/opt/.venv/bin/pip install" in out
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc").exists()


def test_dry_run_over_ssh_shows_the_shipping_and_never_prints_a_secret(tmp_path):
    env = _env(tmp_path, META_APP_ID="1234567890", META_APP_SECRET="s3cr3t-value-never-printed",
               SSH_OPTS="-p 2222")
    result = run_script("deploy.sh", "--dry-run", "--host", "root@vps.example.com", "--domain", "connect.example.com",
                        env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ssh -p 2222 root@vps.example.com" in out and "| ssh -p 2222 root@vps.example.com tar" in out
    assert "export META_APP_ID=1234567890" in out
    assert "s3cr3t-value-never-printed" not in out
    assert re.findall(r"^==> step \d+: (\w+):", out, re.M) == ["ship", "install", *STEPS]


def test_wrong_arguments_are_refused(tmp_path):
    assert run_script("deploy.sh", "--local", env=_env(tmp_path)).returncode != 0  # no domain
    assert run_script("deploy.sh", "--domain", "x.example.com", env=_env(tmp_path)).returncode != 0  # no mode
    refused = run_script("deploy.sh", "--local", "--domain", "x.example.com", "--only", "everything",
                         env=_env(tmp_path))
    assert refused.returncode != 0 and "--only takes one of" in refused.stderr


def test_the_secrets_step_generates_once_and_keeps_what_is_there(tmp_path):
    require_tool("openssl", "openssl")
    env = _env(tmp_path, APP_USER="root")  # the file's group; the test runs as root
    args = ("--local", "--only", "secrets", "--domain", "connect.example.com")
    first = run_script("deploy.sh", *args, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    env_file = tmp_path / "etc" / "insta-connect.env"
    values = _env_file(env_file)
    assert oct(env_file.stat().st_mode & 0o777) == "0o640"
    assert values["APP_ENV"] == "production" and values["TRUSTED_PROXY_COUNT"] == "1"
    assert values["PUBLIC_BASE_URL"] == "https://connect.example.com"
    assert len(parse_encryption_keys(values["TOKEN_ENCRYPTION_KEYS"])) == 1
    assert re.fullmatch(r"postgresql://insta_connect:[0-9a-f]{48}@127\.0\.0\.1:5432/insta_connect",
                        values["DATABASE_URL"])
    for secret in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "META_VERIFY_TOKEN", "DATABASE_URL"):
        assert values[secret] not in first.stdout  # generated, never shown

    # The operator rotated the encryption keys by hand and passes the Meta app on the next run.
    rotated = "bmV3LWtleS1uZXctbmV3LWtleS1uZXctbmV3LWtleSE=," + values["TOKEN_ENCRYPTION_KEYS"]
    env_file.write_text(env_file.read_text().replace(values["TOKEN_ENCRYPTION_KEYS"], rotated))
    second = run_script("deploy.sh", *args, env={**env, "META_APP_ID": "1234", "META_APP_SECRET": "abcd"})
    assert second.returncode == 0, second.stdout + second.stderr
    again = _env_file(env_file)
    assert again["TOKEN_ENCRYPTION_KEYS"] == rotated
    for kept in ("SECRET_KEY", "META_VERIFY_TOKEN", "DATABASE_URL"):
        assert again[kept] == values[kept], kept
    assert again["META_APP_ID"] == "1234" and again["META_APP_SECRET"] == "abcd"
    assert "SECRET_KEY: kept" in second.stdout

    # The app accepts the file as a production configuration.
    settings = load_settings(again)
    assert settings.production and settings.trusted_proxy_count == 1
    assert len(settings.token_encryption_keys) == 2


def test_a_changed_env_file_restarts_the_web_app_instead_of_reloading_it(tmp_path):
    require_tool("openssl", "openssl")
    env = _env(tmp_path, APP_USER="root")
    secrets = ("--local", "--only", "secrets", "--domain", "connect.example.com")
    start = ("--dry-run", "--local", "--only", "start", "--domain", "connect.example.com")
    assert run_script("deploy.sh", *secrets, env={**env, "META_APP_SECRET": "old-secret"}).returncode == 0
    env_file = tmp_path / "etc" / "insta-connect.env"

    first = run_script("deploy.sh", *start, env=env).stdout
    assert "systemctl restart insta-connect-web.service" in first and "restarting it" in first

    # The services run with this env file (what a real start step records).
    digest = subprocess.run(["sha256sum"], input=env_file.read_bytes(), capture_output=True).stdout.split()[0]
    (tmp_path / "etc" / "insta-connect.env.started").write_bytes(digest + b"\n")
    unchanged = run_script("deploy.sh", *start, env=env).stdout
    assert "systemctl reload insta-connect-web.service" in unchanged
    assert "systemctl enable insta-connect-sender.service" in unchanged   # the reply sender, whatever the mode
    assert "systemctl restart insta-connect-sender.service" in unchanged
    assert "systemctl restart insta-connect-web.service" not in unchanged

    # The app secret is rotated at Meta: the new one first, the old one still accepted (SPEC 7).
    assert run_script("deploy.sh", *secrets, env={**env, "META_APP_SECRET": "new-secret,old-secret"}).returncode == 0
    rotated = run_script("deploy.sh", *start, env=env).stdout
    assert "systemctl restart insta-connect-web.service" in rotated
    assert "insta-connect-processor, insta-connect-jobs-worker and insta-connect-sender restarted" in rotated
    assert "new-secret" not in rotated
