"""`make run`'s supervisor and scheduler with real child processes (no sleeps where a poll works)."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.webhooks import wait_until
from webhook_app.local.scheduler import Plan, Scheduler
from webhook_app.local.supervisor import Child, Supervisor
from webhook_app.timed_jobs.calendar import Calendar
from webhook_app.timed_jobs.catalog import TimedJob

pytestmark = pytest.mark.slow  # real child processes and the backoff's real pauses


def test_a_child_that_keeps_failing_is_restarted_with_growing_pauses_and_the_others_keep_running(tmp_path):
    said: list[str] = []
    failing = Child("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"])
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([failing, steady], {}, tmp_path, said.append)
    supervisor.start()
    steady_pid = supervisor.pid("steady")
    try:
        def restarts():
            supervisor.check()
            return len(said) >= 3
        wait_until(restarts, 20, interval=0.02)
        assert said[:3] == ["flaky exited (code 3); restarting it in 1s (restart 1 in a row)",
                            "flaky exited (code 3); restarting it in 2s (restart 2 in a row)",
                            "flaky exited (code 3); restarting it in 4s (restart 3 in a row)"]
        assert supervisor.pid("steady") == steady_pid
    finally:
        supervisor.stop(5)
    assert not supervisor.alive("steady")


def _job(name: str, argv: list[str], expression: str = "*-*-* 04:00:00 UTC") -> TimedJob:
    return TimedJob(name, name, (Calendar.parse(expression),), tuple(argv), persistent=True)


def test_the_scheduler_runs_a_job_on_its_cadence_and_never_twice_at_once(tmp_path):
    marker = tmp_path / "runs.txt"
    # Each run appends a line and lasts 1.5 s; the cadence is 0.5 s, so overlapping runs are skipped.
    script = f"import time; open({str(marker)!r}, 'a').write('run\\n'); time.sleep(1.5)"
    job = _job("quick", [sys.executable, "-c", script])
    said: list[str] = []
    scheduler = Scheduler([Plan(job, {}, every=0.5)], tmp_path, tmp_path, said.append).start()
    try:
        wait_until(lambda: any("still running" in line for line in said), 10, interval=0.05)
    finally:
        scheduler.stop(5)
    assert marker.read_text().count("run") == 1
    assert said[0] == "scheduler: quick: every 0.5s (sandbox mode)"
    assert "scheduler: quick started (on time)" in said
    assert json.loads((tmp_path / "scheduler.json").read_text())["quick"]


def test_a_run_missed_while_make_run_was_stopped_happens_at_start(tmp_path):
    marker = tmp_path / "ran"
    job = _job("prune", [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x')"])
    two_days_ago = datetime.now(timezone.utc) - timedelta(days=2)
    (tmp_path / "scheduler.json").write_text(json.dumps({"prune": two_days_ago.isoformat()}))
    said: list[str] = []
    scheduler = Scheduler([Plan(job, {})], tmp_path, tmp_path, said.append)
    assert scheduler.missed(datetime.now(timezone.utc)) == ["prune"]
    scheduler.start()
    try:
        wait_until(marker.exists, 10)
    finally:
        scheduler.stop(5)
    assert "scheduler: prune started (missed while make run was stopped)" in said

    # Just run: nothing is missed, so a restart does not run it again.
    again = Scheduler([Plan(job, {})], tmp_path, tmp_path, said.append)
    assert again.missed(datetime.now(timezone.utc)) == []
    # ... until its next time passes while it is stopped.
    assert again.missed(datetime.now(timezone.utc) + timedelta(days=1, hours=1)) == ["prune"]
