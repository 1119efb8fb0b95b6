"""`make run`: the whole system on one machine, stopped cleanly by Ctrl-C.

The embedded PostgreSQL (when DATABASE_URL is unset), migrations, the web app under gunicorn, and
the other long-running parts listed in `children()`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from webhook_app.config import PROJECT_ROOT, Settings, load_settings_or_exit
from webhook_app.db import embedded as embedded_db
from webhook_app.db import with_database_url
from webhook_app.db.migrations import migrate
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.logging_setup import configure_logging


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def children(settings: Settings) -> list[Child]:
    """Every long-running process of a local deployment (add yours here)."""
    python = sys.executable
    found = [
        Child("web", [python, "-m", "gunicorn", "--config", str(PROJECT_ROOT / "deployment" / "gunicorn.conf.py"),
                      "app:app"]),
        Child("webhooks", [python, "-m", "jobs.process_webhooks", "--follow"]),
        # Queued background jobs, e.g. the template sync right after a WhatsApp account connects.
        Child("jobs", [python, "-m", "jobs.run_background_jobs"]),
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


def _stop(procs: list[tuple[Child, subprocess.Popen]]) -> None:
    for _, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child, proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  {child.name} did not stop in time; killing it", flush=True)
            proc.kill()
            proc.wait()


def main() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level)
    env = dict(os.environ)
    embedded = not settings.database_url
    if embedded:
        print(f"Starting the embedded PostgreSQL (data in {settings.var_dir / 'pgdata'}) ...", flush=True)
        settings = with_database_url(settings)
        env["DATABASE_URL"] = settings.database_url
    try:
        applied = migrate(settings.database_url)
    except DatabaseUnavailable as exc:
        print(f"cannot reach the database: {exc}", file=sys.stderr)
        return 2
    print(f"Migrations: {len(applied)} applied.", flush=True)

    for name, value in sandbox_env(settings).items():
        env.setdefault(name, value)
    env.setdefault("HOST", settings.host)
    env.setdefault("PORT", str(settings.port))
    procs: list[tuple[Child, subprocess.Popen]] = []
    stopping = False

    def _on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    old_int = signal.signal(signal.SIGINT, _on_signal)
    old_term = signal.signal(signal.SIGTERM, _on_signal)
    try:
        for child in children(settings):
            # Children ignore Ctrl-C themselves (own process group); we stop them in order.
            procs.append((child, subprocess.Popen(child.argv, cwd=PROJECT_ROOT, env={**env, **child.env},
                                                  start_new_session=True)))
        url = f"http://{settings.host}:{settings.port}"
        print(f"\nInsta Connect is running at {url}\n"
              f"  Create an account at {url}/auth/register, then log in at {url}/auth/login.\n"
              + (f"  Meta/TikTok sandbox: http://{settings.host}:{settings.sandbox_port}/_sandbox/\n"
                 if settings.sandbox_enabled else "") +
              "  Ctrl-C stops everything.\n", flush=True)
        while not stopping:
            for child, proc in procs:
                if proc.poll() is not None:
                    print(f"{child.name} exited with code {proc.returncode}; stopping.", flush=True)
                    stopping = True
            time.sleep(0.3)
    finally:
        print("Stopping ...", flush=True)
        _stop(procs)
        if embedded:
            embedded_db.stop(settings.var_dir / "pgdata")
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
