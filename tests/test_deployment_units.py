"""The systemd units in deployment/systemd, as deploy.sh installs them: systemd accepts every one
without a warning, every job has its timer, and the web unit's command really serves the app and
tells systemd it is ready."""
from __future__ import annotations

import re
import shlex
import socket
import subprocess
from configparser import ConfigParser

import pytest
import requests

from tests.support.deploy import fake_install_dir, render_deployment, require_tool
from tests.support.live import ROOT, app_env, free_port, wait_for_http

pytestmark = pytest.mark.slow  # verifies the units with systemd-analyze and runs the web unit's command

# Each job script, the unit that runs it, and when (SPEC 13).
JOBS = {
    "insta-connect-process-webhooks": ("jobs.process_webhooks --once", "OnCalendar=*-*-* *:*:00"),
    "insta-connect-refresh-tokens": ("jobs.refresh_tokens", "OnCalendar=*-*-* 02:00:00 UTC"),
    "insta-connect-sync-account-data": ("jobs.sync_account_data", "OnCalendar=*-*-* 03:00:00 UTC"),
    "insta-connect-monitor-tokens": ("jobs.monitor_tokens", "OnCalendar=*:0/30"),
    "insta-connect-refresh-tiktok": ("jobs.refresh_tiktok", "OnCalendar=*:0/30"),
    "insta-connect-sync-templates": ("jobs.sync_templates", "OnCalendar=*-*-* *:20:00"),
    "insta-connect-prune": ("jobs.prune", "OnCalendar=*-*-* 04:00:00 UTC"),
}


@pytest.fixture
def rendered(tmp_path):
    app_dir = fake_install_dir(tmp_path)
    return app_dir, render_deployment(tmp_path, app_dir) / "systemd"


def _unit(path) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser


def _verify(*paths) -> subprocess.CompletedProcess:
    tool = require_tool("systemd-analyze", "systemd")
    return subprocess.run([tool, "verify", *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_every_unit_and_timer_passes_systemd_analyze_verify_without_a_warning(rendered):
    _, units = rendered
    files = sorted(units.glob("*.service")) + sorted(units.glob("*.timer"))
    assert len(files) >= 18
    result = _verify(*files)
    # systemd-analyze exits 0 on unknown keys and unparsable values and only warns; a clean unit
    # prints nothing at all.
    assert result.returncode == 0 and result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr


def test_systemd_analyze_reports_a_broken_timer_and_a_bad_hardening_line(rendered):
    _, units = rendered
    timer = units / "insta-connect-prune.timer"
    timer.write_text(timer.read_text().replace("OnCalendar=*-*-* 04:00:00 UTC", "OnCalendar=at four"))
    drop_in = units / "insta-connect-.service.d" / "hardening.conf"
    drop_in.write_text(drop_in.read_text().replace("ProtectSystem=strict", "ProtectSystem=very"))
    result = _verify(timer, units / "insta-connect-prune.service")
    assert "Failed to parse calendar specification" in result.stderr
    # The shared drop-in is read with each unit it applies to.
    assert "hardening.conf" in result.stderr and "protect system value" in result.stderr


def test_every_job_has_a_oneshot_service_and_a_persistent_timer_on_its_schedule(rendered):
    app_dir, units = rendered
    for name, (module, schedule) in JOBS.items():
        service = _unit(units / f"{name}.service")
        assert service["Service"]["Type"] == "oneshot", name
        assert service["Service"]["ExecStart"] == f"{app_dir}/.venv/bin/python -m {module}", name
        timer_text = (units / f"{name}.timer").read_text()
        assert schedule in timer_text.splitlines(), name
        assert "Persistent=true" in timer_text.splitlines(), name


def test_every_service_runs_as_the_app_user_with_the_env_file_under_the_shared_hardening(rendered):
    _, units = rendered
    for path in units.glob("*.service"):
        service = _unit(path)["Service"]
        assert service["User"] == "insta-connect", path.name
        assert service["EnvironmentFile"] == "/etc/insta-connect/insta-connect.env", path.name
    hardening = _unit(units / "insta-connect-.service.d" / "hardening.conf")["Service"]
    assert hardening["NoNewPrivileges"] == "true"
    assert hardening["ProtectSystem"] == "strict"
    assert hardening["PrivateTmp"] == "true"
    assert hardening["StateDirectory"] == "insta-connect"
    for long_running in ("insta-connect-web", "insta-connect-processor", "insta-connect-jobs-worker",
                         "insta-connect-sender"):
        assert _unit(units / f"{long_running}.service")["Service"]["Restart"] == "on-failure"
    processor = _unit(units / "insta-connect-processor.service")["Service"]
    assert processor["ExecStart"].endswith("-m jobs.process_webhooks --follow")
    assert _unit(units / "insta-connect-jobs-worker.service")["Service"]["ExecStart"].endswith(
        "-m jobs.run_background_jobs")
    assert _unit(units / "insta-connect-sender.service")["Service"]["ExecStart"].endswith("-m jobs.send_messages --follow")
    assert _unit(units / "insta-connect-migrate.service")["Service"]["ExecStart"].endswith("-m jobs.migrate")
    # Every unit's command is a module of jobs/ (or gunicorn), so none points at a module that moved.
    for unit in units.glob("*.service"):
        command = _unit(unit)["Service"].get("ExecStart", "")
        module = command.split(" -m ", 1)[1].split()[0] if " -m " in command else None
        assert module is None or module == "gunicorn" or (ROOT / (module.replace(".", "/") + ".py")).exists(), unit


def test_the_web_unit_command_serves_the_app_and_notifies_systemd_when_ready(rendered, settings, tmp_path):
    """ExecStart, WorkingDirectory and the bind variable of insta-connect-web.service, run as systemd would."""
    app_dir, units = rendered
    service = _unit(units / "insta-connect-web.service")["Service"]
    assert service["Type"] == "notify" and service["KillMode"] == "mixed"
    assert service["Environment"] == "GUNICORN_BIND=127.0.0.1:8000"
    port = free_port()
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    env = app_env(settings, GUNICORN_BIND=f"127.0.0.1:{port}", NOTIFY_SOCKET=notify_path, GUNICORN_WORKERS="1")
    proc = subprocess.Popen(shlex.split(service["ExecStart"]), cwd=service["WorkingDirectory"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        message = notify.recv(4096).decode()
        assert "READY=1" in message.split("\n")
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["database"] == "ok"
    finally:
        proc.terminate()
        proc.wait(20)
        notify.close()
    assert proc.returncode == 0  # gunicorn stops cleanly on systemd's SIGTERM
    assert re.fullmatch(r"/\S+/\.venv/bin/gunicorn --config deployment/gunicorn.conf.py app:app", service["ExecStart"])
