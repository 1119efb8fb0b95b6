"""Benchmark: the token refresh job over 10,000 connected accounts against the sandbox (50 ms per call).

    .venv/bin/python -m bench.refresh_tokens [--accounts 10000] [--latency-ms 50] [--concurrency 32]

The sandbox runs in this process under werkzeug's threaded server (a thread per request); its world and
the database rows are seeded directly, in bulk. The refresh job runs as its own process
(`python -m jobs.refresh_tokens`), exactly as the timer starts it. The sandbox enforces a call limit
(`--limit-calls` per `--limit-window` seconds, reported in X-App-Usage, code 4 beyond it), so the run
shows whether the job slows down before Meta would throttle it. Uses TEST_DATABASE_URL's server, or an
embedded PostgreSQL in a temporary folder.
"""
from __future__ import annotations

import argparse
import base64
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extras
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webhook_app.config import Settings  # noqa: E402
from webhook_app.migrations import migrate  # noqa: E402
from webhook_app.sandbox import PathOnlyHandler, create_sandbox_app, sandbox_env  # noqa: E402
from webhook_app.vault import Vault  # noqa: E402

SECRET = "bench-app-secret"
KEY = b"b" * 32
DAY = 86400


def _server_url(tmp: Path) -> tuple[str, Path | None]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        return given, None
    from webhook_app import embedded_db

    pgdata = tmp / "pgdata"
    return embedded_db.server_url(pgdata), pgdata


def _fresh_database(admin_url: str) -> str:
    name = f"ic_bench_{os.getpid()}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    parts = urlsplit(admin_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    migrate(url)
    return url


def seed(state, url: str, accounts: int) -> dict[str, int]:
    """Sandbox tokens and database rows for `accounts` accounts: 40% Facebook, 20% each WhatsApp, Instagram, TikTok."""
    vault = Vault((KEY,))
    counts = {"meta": accounts * 4 // 10, "whatsapp": accounts // 5, "instagram": accounts // 5}
    counts["tiktok"] = accounts - sum(counts.values())
    rows: dict[str, list] = {k: [] for k in counts}
    soon = datetime.fromtimestamp(time.time() + 3 * DAY, timezone.utc)
    for i in range(counts["meta"]):
        person = state.add_meta_user(f"Bench person {i}")
        state.add_page(person.id, f"Bench Page {i}")
        token = state.issue_token("user_long", person.id, ["pages_show_list"], lifetime=3 * DAY)
        rows["meta"].append((person.id, f"Bench person {i}", *_sealed(vault, token.value), soon))
    for i in range(counts["whatsapp"]):
        token = state.issue_token("user_long", f"wa-{i}", ["whatsapp_business_management"], lifetime=3 * DAY)
        rows["whatsapp"].append((f"waba-{i}", f"Bench WhatsApp {i}", *_sealed(vault, token.value), soon))
    for i in range(counts["instagram"]):
        token = state.issue_token("instagram", f"ig-{i}", ["instagram_business_basic"], lifetime=3 * DAY)
        rows["instagram"].append((f"ig-{i}", f"bench.{i}", *_sealed(vault, token.value), soon))
    state.age_tokens(25, kind="instagram")
    for i in range(counts["tiktok"]):
        state.tiktok_users[f"tt-{i}"] = type(state.default_tiktok_user())(f"tt-{i}", f"u-{i}", f"Bench {i}")
        access = state.issue_token("tiktok_access", f"tt-{i}", ["user.info.basic"], lifetime=DAY)
        refresh = state.issue_token("tiktok_refresh", f"tt-{i}", ["user.info.basic"], lifetime=365 * DAY)
        rows["tiktok"].append((f"tt-{i}", f"Bench {i}", *_sealed(vault, access.value),
                               datetime.fromtimestamp(access.expires_at, timezone.utc),
                               *_sealed(vault, refresh.value)))
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (email, password_hash) VALUES ('bench@example.com', 'x') RETURNING id")
        user = cur.fetchone()[0]
        psycopg2.extras.execute_values(cur, (
            "INSERT INTO meta_accounts (user_id, meta_user_id, name, access_token_ciphertext, access_token_key_id,"
            " expires_at) VALUES %s"), [(user, *r) for r in rows["meta"]], page_size=1000)
        psycopg2.extras.execute_values(cur, (
            "INSERT INTO whatsapp_accounts (user_id, waba_id, name, access_token_ciphertext, access_token_key_id,"
            " expires_at) VALUES %s"), [(user, *r) for r in rows["whatsapp"]], page_size=1000)
        psycopg2.extras.execute_values(cur, (
            "INSERT INTO instagram_accounts (user_id, ig_user_id, username, access_token_ciphertext,"
            " access_token_key_id, expires_at, token_kind, last_refreshed_at)"
            " VALUES %s"), [(user, *r, "instagram_login", datetime.fromtimestamp(time.time() - 25 * 3600,
                                                                                timezone.utc))
                            for r in rows["instagram"]], page_size=1000)
        psycopg2.extras.execute_values(cur, (
            "INSERT INTO tiktok_accounts (user_id, open_id, display_name, access_token_ciphertext,"
            " access_token_key_id, expires_at, refresh_token_ciphertext, refresh_token_key_id,"
            " last_refreshed_at) VALUES %s"),
            [(user, *r, datetime.fromtimestamp(time.time() - DAY, timezone.utc)) for r in rows["tiktok"]],
            page_size=1000)
    conn.close()
    return counts


def _sealed(vault: Vault, token: str) -> tuple[bytes, str]:
    sealed = vault.seal(token)
    return sealed.ciphertext, sealed.key_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit-calls", type=int, default=5000, help="sandbox call limit per window")
    parser.add_argument("--limit-window", type=float, default=10.0, help="the limit's window in seconds")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="icbench-"))
    admin_url, pgdata = _server_url(tmp)
    try:
        url = _fresh_database(admin_url)
        sandbox_app = create_sandbox_app(Settings(meta_app_secret=SECRET))
        state = sandbox_app.extensions["sandbox"]
        server = make_server("127.0.0.1", 0, sandbox_app, threaded=True, request_handler=PathOnlyHandler)
        import logging
        import threading

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sandbox_url = f"http://127.0.0.1:{server.server_port}"

        started = time.monotonic()
        counts = seed(state, url, args.accounts)
        seeded = time.monotonic() - started
        state.set_latency(args.latency_ms)
        state.set_call_limit(args.limit_calls, args.limit_window)
        state.calls.clear()

        env = {k: v for k, v in os.environ.items() if not k.startswith(("META_", "TIKTOK_"))}
        env.update(sandbox_env(sandbox_url), DATABASE_URL=url, APP_ENV="development", SECRET_KEY="bench",
                   TOKEN_ENCRYPTION_KEYS=base64.b64encode(KEY).decode(), META_APP_SECRET=SECRET,
                   META_VERIFY_TOKEN="bench", LOG_LEVEL="WARNING", VAR_DIR=str(tmp / "var"), PYTHONUNBUFFERED="1")
        began = time.monotonic()
        job = subprocess.run([sys.executable, "-m", "jobs.refresh_tokens", "--concurrency", str(args.concurrency)],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - began
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT outcome, count(*) FROM token_refresh_log GROUP BY outcome ORDER BY 1")
            outcomes = dict(cur.fetchall())
        conn.close()
        calls = len(state.calls)

        print(f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} cores"
              f" · Python {platform.python_version()} · {platform.platform()}")
        print(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")
        print(f"accounts: {args.accounts} ({', '.join(f'{k} {v}' for k, v in counts.items())}), seeded in {seeded:.1f}s")
        print(f"sandbox: {args.latency_ms} ms per call, limit {args.limit_calls} calls / {args.limit_window:.0f}s "
              f"(~{args.limit_calls / args.limit_window:.0f}/s), werkzeug threaded server in the bench process")
        print(f"job: --concurrency {args.concurrency}, exit {job.returncode}: {job.stdout.strip().splitlines()[-1]}")
        print(f"result: {elapsed:.1f}s wall, {sum(outcomes.values()) / elapsed:.0f} accounts/s, "
              f"{calls} sandbox calls ({calls / elapsed:.0f}/s), outcomes {outcomes}, "
              f"rate-limited answers {outcomes.get('rate_limited', 0)}, usage pauses logged "
              f"{job.stderr.count('pausing')}")
        server.shutdown()
        return job.returncode
    finally:
        if pgdata is not None:
            from webhook_app import embedded_db

            embedded_db.stop(pgdata)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
