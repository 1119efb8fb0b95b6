"""The timers of deployment/systemd read once: OnCalendar= as systemd reads it, the services' commands, run now."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from tests.support.deploy import require_tool
from tests.support.webhooks import wait_until
from webhook_app.background_jobs import store
from webhook_app.timed_jobs import runs
from webhook_app.timed_jobs.calendar import Calendar, CalendarError
from webhook_app.timed_jobs.catalog import UNITS_DIR, read_unit, timed_jobs

EXPRESSIONS = ["*-*-* 02:00:00 UTC", "*:0/30", "*-*-* *:*:00", "*-*-* *:20:00", "Mon..Fri 09:00",
               "Sat,Sun *-*-* 10:15 UTC", "weekly", "monthly", "hourly", "*-*-1,15 06:00:00", "*-02-29 00:00:00",
               "*:0/7", "2027-*-* 12:00"]


def _systemd_next(expression: str, base: datetime, iterations: int = 3) -> list[str]:
    tool = require_tool("systemd-analyze", "systemd")
    out = subprocess.run([tool, "calendar", f"--iterations={iterations}", f"--base-time=@{int(base.timestamp())}",
                          expression], capture_output=True, text=True, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
                         check=True).stdout
    return [line.split(": ", 1)[1].strip() for line in out.splitlines()
            if line.strip().startswith(("Next elapse:", "Iter. #"))]


@pytest.mark.parametrize("expression", sorted(set(EXPRESSIONS) | {c.expression for j in timed_jobs().values()
                                                                for c in j.calendars}))
def test_next_elapses_are_the_ones_systemd_computes(expression):
    base = datetime(2026, 12, 1, 12, 7, 30, tzinfo=timezone.utc)
    calendar, ours, moment = Calendar.parse(expression), [], base
    for _ in range(3):
        moment = calendar.next_after(moment)
        ours.append(moment.astimezone(timezone.utc).strftime("%a %Y-%m-%d %H:%M:%S UTC"))
    assert ours == _systemd_next(expression, base)


@pytest.mark.parametrize("bad", ["*-*-* 25:00", "Funday 10:00", "*:0/0", "tomorrow at noon"])
def test_an_expression_it_cannot_read_is_refused(bad):
    with pytest.raises(CalendarError):
        Calendar.parse(bad)


def test_every_timer_of_deployment_is_a_job_with_its_service_command():
    jobs = timed_jobs()
    timers = sorted(p.stem.removeprefix("insta-connect-") for p in UNITS_DIR.glob("insta-connect-*.timer"))
    assert sorted(jobs) == timers
    refresh = jobs["refresh-tokens"]
    assert refresh.argv == (sys.executable, "-m", "jobs.refresh_tokens")
    assert [c.expression for c in refresh.calendars] == read_unit(
        UNITS_DIR / "insta-connect-refresh-tokens.timer")["Timer"]["OnCalendar"]
    assert refresh.persistent
    assert jobs["backup"].argv[0].endswith("/scripts/backup.sh")


def test_run_now_api_queues_one_run_that_the_jobs_worker_runs(auth, browser, db, sql):
    assert browser.api("POST", "/api/timed-jobs/prune/run").status_code == 401
    auth.register()
    listed = browser.api("GET", "/api/timed-jobs").json()["jobs"]
    assert {j["name"] for j in listed} == set(timed_jobs())
    prune = next(j for j in listed if j["name"] == "prune")
    assert prune["schedule"] == "*-*-* 04:00:00 UTC" and prune["next_run"].endswith(("04:00:00Z", "04:00:00+00:00"))

    assert browser.api("POST", "/api/timed-jobs/prune/run", csrf=False).status_code == 400   # CSRF
    first = browser.api("POST", "/api/timed-jobs/prune/run")
    assert first.status_code == 202 and first.json()["queued"] is True
    again = browser.api("POST", "/api/timed-jobs/prune/run")
    assert again.status_code == 200 and again.json()["queued"] is False
    assert browser.api("POST", "/api/timed-jobs/no-such-job/run").status_code == 404
    assert sql("SELECT kind, payload->>'name', status FROM background_jobs") == [("timed_job", "prune", "queued")]


def test_a_timed_job_run_now_runs_the_service_command(settings, db, sql, monkeypatch):
    from tests.support.live import app_env

    for name, value in app_env(settings).items():
        monkeypatch.setenv(name, value)
    runs.request_run(db, "prune")
    done = store.run_one(db, {runs.JOB_KIND: runs.run_job})
    assert done is not None
    assert wait_until(lambda: sql("SELECT status FROM background_jobs") == [("done",)], 5)


def test_make_bench_names_the_one_command_for_a_missing_wrk_and_runs_the_rest(tmp_path):
    # A PATH without wrk (only this interpreter's own directory).
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bench.run", "--list"], cwd=UNITS_DIR.parents[1], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "wrk is not installed, so intake, intake_ceiling will not run; to install it: apt-get install wrk"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "would run latency", "would run drain", "would run refresh_tokens", "would run dashboard", "would run send"]
