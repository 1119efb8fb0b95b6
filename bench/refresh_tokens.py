"""Benchmark: the token refresh job over 10,000 connected accounts against the sandbox (50 ms per call).

    flock /tmp/bench.lock .venv/bin/python -m bench.refresh_tokens [--accounts 10000] [--latency-ms 50]
        [--concurrency 32] [--limit-calls 4000 --limit-window 10] [--runs limited,plain]

Two runs by default, each on a fresh database and a freshly seeded sandbox: `limited`, the issue's run
(the sandbox allows `--limit-calls` per `--limit-window` seconds, reports the share used in X-App-Usage /
X-Business-Use-Case-Usage, and answers code 4 beyond it), and `plain` (no limit), which shows what the
job does when nothing holds it back. The sandbox is served as its own process under gunicorn (one
gthread worker, keep-alive: bench/sandbox_server.py); the refresh job runs as `python -m
jobs.refresh_tokens`, exactly as the timer starts it. Each run prints its rate against the ceiling in
the same run: concurrency / call latency (the most calls the job's workers could make if nothing but the
sandbox's 50 ms took time) or, when lower, the sandbox's call limit. Uses BENCH_DATABASE_URL's server,
or an embedded PostgreSQL in a temporary folder.
"""
from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg2
import psycopg2.extras
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Postgres, machine  # noqa: E402
from tests.support.live import free_port, wait_for_http  # noqa: E402
from webhook_app.sandbox import sandbox_env  # noqa: E402
from webhook_app.tokens.vault import Vault  # noqa: E402

SECRET = "bench-app-secret"
KEY = b"b" * 32
DAY = 86400


def split(accounts: int) -> dict[str, int]:
    """40% Facebook logins (two calls each: the exchange and /me/accounts), 20% each WhatsApp, Instagram, TikTok."""
    counts = {"meta": accounts * 4 // 10, "whatsapp": accounts // 5, "instagram": accounts // 5}
    counts["tiktok"] = accounts - sum(counts.values())
    return counts


def expected_calls(counts: dict[str, int]) -> int:
    return 2 * counts["meta"] + counts["whatsapp"] + counts["instagram"] + counts["tiktok"]


def seed(state, url: str, accounts: int) -> dict[str, int]:
    """Sandbox tokens and database rows for `accounts` accounts: 40% Facebook, 20% each WhatsApp, Instagram, TikTok."""
    vault = Vault((KEY,))
    counts = split(accounts)
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
        # Each account row, then its credential (the token columns live in `credentials`).
        day_ago = datetime.fromtimestamp(time.time() - DAY, timezone.utc)
        credentials = []

        def accounts(statement: str, values: list[tuple]) -> list[int]:
            return [r[0] for r in psycopg2.extras.execute_values(cur, statement, values, page_size=1000, fetch=True)]

        ids = accounts("INSERT INTO meta_accounts (user_id, meta_user_id, name) VALUES %s RETURNING id",
                       [(user, r[0], r[1]) for r in rows["meta"]])
        credentials += [(user, "meta", i, "long_lived_user", *r[2:5], None, None, None)
                        for i, r in zip(ids, rows["meta"])]
        ids = accounts("INSERT INTO whatsapp_accounts (user_id, waba_id, name) VALUES %s RETURNING id",
                       [(user, r[0], r[1]) for r in rows["whatsapp"]])
        credentials += [(user, "whatsapp", i, "long_lived_user", *r[2:5], None, None, None)
                        for i, r in zip(ids, rows["whatsapp"])]
        ids = accounts("INSERT INTO instagram_accounts (user_id, ig_user_id, username, token_kind) "
                       "VALUES %s RETURNING id", [(user, r[0], r[1], "instagram_login") for r in rows["instagram"]])
        credentials += [(user, "instagram", i, "instagram_login", *r[2:5], None, None,
                         datetime.fromtimestamp(time.time() - 25 * 3600, timezone.utc))
                        for i, r in zip(ids, rows["instagram"])]
        ids = accounts("INSERT INTO tiktok_accounts (user_id, open_id, display_name) VALUES %s RETURNING id",
                       [(user, r[0], r[1]) for r in rows["tiktok"]])
        credentials += [(user, "tiktok", i, "tiktok", *r[2:7], day_ago) for i, r in zip(ids, rows["tiktok"])]
        psycopg2.extras.execute_values(cur, (
            "INSERT INTO credentials (user_id, kind, account_id, token_kind, access_token_ciphertext,"
            " access_token_key_id, expires_at, refresh_token_ciphertext, refresh_token_key_id, last_refreshed_at)"
            " VALUES %s"), credentials, page_size=1000)
    conn.close()
    return counts


def _sealed(vault: Vault, token: str) -> tuple[bytes, str]:
    sealed = vault.seal(token)
    return sealed.ciphertext, sealed.key_id


class Sandbox:
    """bench/sandbox_server.py under gunicorn, seeded with `accounts` accounts whose rows go into `url`."""

    def __init__(self, url: str, accounts: int, threads: int):
        self.url = f"http://127.0.0.1:{free_port()}"
        env = dict(os.environ, IC_BENCH_SEED_URL=url, IC_BENCH_ACCOUNTS=str(accounts), LOG_LEVEL="WARNING")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", self.url.removeprefix("http://"), "--workers", "1",
             "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30", "--timeout", "300",
             "--log-level", "warning", "bench.sandbox_server:app"], cwd=ROOT, env=env)
        wait_for_http(self.url + "/_sandbox/api/counters", timeout=300, proc=self.proc)

    def control(self, path: str, **body) -> dict:
        return requests.post(f"{self.url}/_sandbox/api/{path}", json=body, timeout=10).json()

    def counters(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/api/counters", timeout=10).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def run_once(pg: Postgres, args, label: str, limit_calls: int) -> int:
    url = pg.fresh(f"ic_bench_refresh_{os.getpid()}")
    counts = split(args.accounts)
    started = time.monotonic()
    sandbox = Sandbox(url, args.accounts, threads=2 * args.concurrency)
    seeded = time.monotonic() - started
    try:
        sandbox.control("latency", ms=args.latency_ms)
        if limit_calls:
            sandbox.control("call-limit", calls=limit_calls, window_seconds=args.limit_window)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("META_", "TIKTOK_"))}
        env.update(sandbox_env(sandbox.url), DATABASE_URL=url, APP_ENV="development", SECRET_KEY="bench",
                   TOKEN_ENCRYPTION_KEYS=base64.b64encode(KEY).decode(), META_APP_SECRET=SECRET,
                   META_VERIFY_TOKEN="bench", LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
        usage: list[float] = []
        done = threading.Event()

        def watch() -> None:  # the sandbox's usage once a second, as Meta's headers would show it
            while not done.wait(1.0):
                usage.append(sandbox.counters()["usage_now"])

        watcher = threading.Thread(target=watch, daemon=True)
        began = time.monotonic()
        watcher.start()
        job = subprocess.run([sys.executable, "-m", "jobs.refresh_tokens", "--concurrency", str(args.concurrency)],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - began
        done.set()
        watcher.join()
        final = sandbox.counters()
    finally:
        sandbox.stop()
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT outcome, count(*) FROM token_refresh_log GROUP BY outcome ORDER BY 1")
        outcomes = dict(cur.fetchall())
    conn.close()
    calls = final["calls"]
    output = job.stdout + job.stderr
    ceiling = args.concurrency * 1000 / args.latency_ms
    limit_rate = limit_calls / args.limit_window if limit_calls else None
    bound = min(ceiling, limit_rate) if limit_rate else ceiling
    floor_seconds = expected_calls(counts) / bound
    last = job.stdout.strip().splitlines()[-1] if job.stdout.strip() else job.stderr.strip()[-500:]
    print(f"--- run: {label}")
    print(f"accounts: {args.accounts} ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
          f"sandbox booted and seeded in {seeded:.1f}s")
    print(f"sandbox: gunicorn, 1 gthread worker x {2 * args.concurrency} threads, keep-alive; "
          f"{args.latency_ms} ms per call; " + (
              f"limit {limit_calls} calls / {args.limit_window:g}s (~{limit_rate:.0f} calls/s)" if limit_calls
              else "no call limit"))
    print(f"job: --concurrency {args.concurrency}, exit {job.returncode}: {last}")
    print(f"result: {elapsed:.1f}s wall, {sum(outcomes.values()) / elapsed:.0f} accounts/s, {calls} sandbox calls "
          f"({calls / elapsed:.0f} calls/s), outcomes {outcomes}")
    if limit_calls:
        mean = sum(usage) / len(usage) if usage else 0.0
        print(f"usage: peak {final['usage_peak']:.0f}% of the limit, mean {mean:.0f}% (sampled each second), "
              f"rate-limited answers {outcomes.get('rate_limited', 0)}, usage pauses logged "
              f"{output.count('pausing')}")
    print(f"reference: ceiling {bound:.0f} calls/s ({'call limit' if bound != ceiling else 'concurrency / latency'}"
          f"), i.e. at least {floor_seconds:.1f}s for {expected_calls(counts)} calls; this run reached "
          f"{calls / elapsed / bound:.0%} of it ({elapsed / floor_seconds:.2f}x the floor)")
    return job.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit-calls", type=int, default=4000, help="the sandbox's call limit per window")
    parser.add_argument("--limit-window", type=float, default=10.0, help="the limit's window in seconds")
    parser.add_argument("--runs", default="limited,plain", help="which runs, in order: limited, plain")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    pg = Postgres()
    try:
        status = 0
        for label in args.runs.split(","):
            status |= run_once(pg, args, label, args.limit_calls if label == "limited" else 0)
        return status
    finally:
        pg.close()


if __name__ == "__main__":
    sys.exit(main())
