"""`make run`'s stand-in for systemd's timers: every timed job of deployment/systemd, on its own calendar.

The calendars come from the timer files (webhook_app/timed_jobs/catalog.py), the commands from their
services. Like `Persistent=true`, a run missed while `make run` was stopped happens at start (the last
runs are kept in VAR_DIR/scheduler.json). A job still running at its next time is not started twice.
"""
from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from webhook_app.timed_jobs.catalog import TimedJob

STAMPS_FILE = "scheduler.json"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Plan:
    job: TimedJob
    env: dict[str, str]
    every: float | None = None   # seconds: replaces the calendar (the sandbox's quick token monitor)

    def next_after(self, moment: datetime) -> datetime | None:
        if self.every:
            return moment + timedelta(seconds=self.every)
        return self.job.next_after(moment)


class Scheduler:
    def __init__(self, plans: list[Plan], var_dir: Path, cwd: Path, say: Callable[[str], None] = print):
        self.plans = {p.job.name: p for p in plans}
        self.stamps_path = var_dir / STAMPS_FILE
        self.cwd, self.say = cwd, say
        self._stop = threading.Event()
        self._running: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="local-scheduler", daemon=True)

    # ---- stamps: when each job last ran -----------------------------------------------------
    def _stamps(self) -> dict[str, str]:
        try:
            stamps = json.loads(self.stamps_path.read_text())
            return stamps if isinstance(stamps, dict) else {}
        except (OSError, ValueError):
            return {}

    def _stamp(self, name: str, moment: datetime) -> None:
        stamps = self._stamps()
        stamps[name] = moment.isoformat()
        tmp = self.stamps_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stamps, indent=1))
        tmp.replace(self.stamps_path)

    def missed(self, moment: datetime) -> list[str]:
        """Persistent jobs whose time came while nothing ran them (systemd's Persistent=true)."""
        found = []
        for name, stamp in self._stamps().items():
            plan = self.plans.get(name)
            if plan is None or not plan.job.persistent or plan.every:
                continue
            try:
                last = datetime.fromisoformat(stamp)
            except ValueError:
                continue
            due = plan.job.next_after(last)
            if due is not None and due <= moment:
                found.append(name)
        return found

    # ---- running -------------------------------------------------------------------------------
    def run_now(self, name: str, why: str = "on time") -> bool:
        """Start the job unless it is still running; False when it was."""
        plan = self.plans[name]
        with self._lock:
            previous = self._running.get(name)
            if previous is not None and previous.poll() is None:
                self.say(f"scheduler: {name} is still running (pid {previous.pid}); this run is skipped")
                return False
            self.say(f"scheduler: {name} started ({why})")
            self._running[name] = subprocess.Popen(list(plan.job.argv), cwd=self.cwd, env=plan.env,
                                                   start_new_session=True)
            self._stamp(name, now_utc())
            return True

    def _loop(self) -> None:
        start = now_utc()
        for name in self.missed(start):
            self.run_now(name, "missed while make run was stopped")
        upcoming = {name: plan.next_after(start) for name, plan in self.plans.items()}
        while not self._stop.is_set():
            due = [(at, name) for name, at in upcoming.items() if at is not None]
            if not due:
                self._stop.wait(3600)
                continue
            at, name = min(due)
            wait = (at - now_utc()).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 60))   # wake at least every minute: the clock may jump
                continue
            self.run_now(name)
            upcoming[name] = self.plans[name].next_after(max(at, now_utc()))
            self._reap()

    def _reap(self) -> None:
        with self._lock:
            for name, proc in list(self._running.items()):
                code = proc.poll()
                if code is not None:
                    if code != 0:
                        self.say(f"scheduler: {name} exited with code {code}")
                    del self._running[name]

    def start(self) -> "Scheduler":
        for plan in self.plans.values():
            when = f"every {plan.every:g}s (sandbox mode)" if plan.every else plan.job.schedule
            self.say(f"scheduler: {plan.job.name}: {when}")
        self._thread.start()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            running = [(n, p) for n, p in self._running.items() if p.poll() is None]
        for _, proc in running:
            proc.terminate()
        for name, proc in running:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.say(f"scheduler: {name} did not stop in time; killing it")
                proc.kill()
                proc.wait()
