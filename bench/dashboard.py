"""Dashboard benchmark: 1,000,000 webhook events across 100 users, read through the app.

    make bench-dashboard        (or: .venv/bin/python -m bench.dashboard [--events N])

Bulk-loads the events with generate_series (the rollup triggers of migration 0030 fire as they
would in production), then times, through the Flask app in-process (routing, login, CSRF, rate
limit, JSON), the first page of the event list, a page 9,000 events deep by cursor, a filtered
page, and the stats call; next to a plain `SELECT status, count(*) ... GROUP BY status` on the same
table. Uses an embedded PostgreSQL in a temporary folder unless BENCH_DATABASE_URL is set (the
database it names is dropped and re-created).
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bcrypt
import psycopg2

from webhook_app import create_app
from webhook_app.config import DEFAULT_RATELIMITS, Settings
from webhook_app.db.migrations import migrate
from webhook_app.db.queries import query
from webhook_app.web.listing import decode_cursor, encode_cursor

USERS = 100
PASSWORD = "benchmark password"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

LOAD_SQL = """
INSERT INTO users (email, password_hash)
SELECT 'bench' || i || '@example.com', %(hash)s FROM generate_series(1, %(users)s) i;

INSERT INTO webhook_deliveries (body_sha256, object, entry_count, received_at)
SELECT sha256(('delivery-' || d)::bytea), 'instagram', 100, now() - interval '7 days'
FROM generate_series(1, %(events)s / 100) d;

-- 1,000,000 events over the last 7 days, one user in 100 each; mostly processed, as in real life.
INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload, status,
                            attempts, errors, received_at, run_at, processed_at, updated_at)
SELECT (g - 1) / 100 + 1, (g - 1) %% 100, u.ids[1 + g %% %(users)s],
       (ARRAY['instagram', 'page', 'whatsapp_business_account'])[1 + g %% 3],
       (ARRAY['comments', 'messaging', 'mentions', 'feed', 'messages'])[1 + g %% 5],
       (17841400000000000 + g %% %(users)s)::text,
       jsonb_build_object('id', (17841400000000000 + g %% %(users)s)::text, 'time', g,
                          'changes', jsonb_build_array(jsonb_build_object('field', 'comments',
                              'value', jsonb_build_object('id', 'c' || g, 'text', 'comment number ' || g)))),
       s.status,
       CASE s.status WHEN 'processed' THEN 1 WHEN 'failed' THEN 2 WHEN 'dead_letter' THEN 4 ELSE 0 END,
       CASE WHEN s.status IN ('failed', 'dead_letter')
            THEN jsonb_build_array(jsonb_build_object('attempt', 1, 'at', t.at, 'message', 'KeyError: ''value'''))
            ELSE '[]'::jsonb END,
       t.at, t.at, CASE WHEN s.status = 'processed' THEN t.at + interval '2 seconds' END, t.at
FROM generate_series(1, %(events)s) g
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM users) u
CROSS JOIN LATERAL (SELECT now() - (g::bigint * 7919 %% 100003) / 100003.0 * interval '7 days' AS at) t  -- by g: a random() here ran once
CROSS JOIN LATERAL (SELECT CASE WHEN g %% 100 < 90 THEN 'processed' WHEN g %% 100 < 94 THEN 'pending'
                                WHEN g %% 100 < 95 THEN 'processing' WHEN g %% 100 < 98 THEN 'failed'
                                ELSE 'dead_letter' END AS status) s;
"""


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, samples: list[float], budget: float | None = None) -> str:
    p95 = percentile(samples, 95)
    verdict = "" if budget is None else (f"  (budget p95 < {budget:g} ms: {'OK' if p95 < budget else 'MISSED'})")
    return (f"{name:<52} n={len(samples):<4} p50={percentile(samples, 50):7.2f} ms  p95={p95:7.2f} ms  "
            f"p99={percentile(samples, 99):7.2f} ms  max={max(samples):7.2f} ms{verdict}")


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, AttributeError):
        memory = "? RAM"
    return f"{platform.node()} · {cpu} · {os.cpu_count()} cores · {memory} · Python {platform.python_version()}"


def logged_in_clients(cur, dsn: str) -> tuple[list, dict, object]:
    """The loaded users (id, email), a logged-in client of the app for each (no rate limit in the way), the app."""
    cur.execute("SELECT id, email FROM users ORDER BY id")
    users = cur.fetchall()
    limits = dict(DEFAULT_RATELIMITS, RATELIMIT_API_USER="1000000 per 15 minutes")
    settings = Settings(database_url=dsn, secret_key="bench", token_encryption_keys=(b"b" * 32,),
                        meta_app_secret="bench", meta_verify_token="bench", bcrypt_rounds=4,
                        var_dir=Path(tempfile.gettempdir()), log_level="WARNING", ratelimits=limits)
    app = create_app(settings)
    return users, {user_id: Client(app, email) for user_id, email in users}, app


class Client:
    """One logged-in user of the app, through Flask's test client (no network in the figures)."""

    def __init__(self, app, email: str):
        self.http = app.test_client()
        page = self.http.get("/auth/login").get_data(as_text=True)
        token = _CSRF.search(page).group(1)
        response = self.http.post("/auth/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.status_code

    def time_get(self, path: str) -> tuple[float, dict]:
        started = time.perf_counter()
        response = self.http.get(path)
        body = response.get_json()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (path, response.status_code, body)
        return elapsed, body


def run(dsn: str, events: int, samples: int) -> None:
    print(f"Dashboard benchmark · {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"Machine: {machine()}")
    migrate(dsn)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SHOW server_version")
    print(f"PostgreSQL {cur.fetchone()[0]}")

    started = time.perf_counter()
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    cur.execute(LOAD_SQL, {"hash": password_hash, "users": USERS, "events": events})
    loaded = time.perf_counter() - started
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT count(*), count(DISTINCT user_id) FROM webhook_events")
    total, owners = cur.fetchone()
    cur.execute("SELECT pg_size_pretty(pg_total_relation_size('webhook_events'))")
    size = cur.fetchone()[0]
    print(f"Loaded {total:,} events for {owners} users in {loaded:.1f} s (rollup triggers on); "
          f"webhook_events is {size} with indexes")

    users, clients, app = logged_in_clients(cur, dsn)
    rng = random.Random(7)

    # The first stats read of each user folds the deltas the bulk load left (a week of minutes).
    cold = [clients[user_id].time_get("/api/webhook-events/stats")[0] for user_id, _ in users]

    # A cursor 90 % of the way down each user's list (9,000 of 10,000), as paging would reach it.
    depth = int(events / USERS * 0.9)
    deep = {}
    for user_id, _ in users:
        cur.execute("SELECT received_at, id FROM webhook_events WHERE user_id = %s "
                    "ORDER BY received_at DESC, id DESC OFFSET %s LIMIT 1", (user_id, depth))
        at, event_id = cur.fetchone()
        deep[user_id] = encode_cursor(at, event_id)

    def sample(path_for, rounds=samples, before=None):
        for warm in range(20):  # untimed: this query's pages into the cache
            user_id = users[warm % len(users)][0]
            clients[user_id].time_get(path_for(user_id))
        timings, body = [], None
        for _ in range(rounds):
            user_id = rng.choice(users)[0]
            if before:
                before(user_id)
            elapsed, body = clients[user_id].time_get(path_for(user_id))
            timings.append(elapsed)
        return timings, body

    # First and deep pages interleaved, in random order, so neither gets a warmer cache or a quieter moment.
    first, deep_page = [], []
    for path_for in (lambda u: "/api/webhook-events?limit=50", lambda u: f"/api/webhook-events?limit=50&before={deep[u]}"):
        sample(path_for, rounds=0)
    for _ in range(samples):
        user_id = rng.choice(users)[0]
        pair = [(first, "/api/webhook-events?limit=50"), (deep_page, f"/api/webhook-events?limit=50&before={deep[user_id]}")]
        rng.shuffle(pair)
        for timings, path in pair:
            elapsed, body = clients[user_id].time_get(path)
            assert body["events"]
            timings.append(elapsed)
    failed_page, _ = sample(lambda u: "/api/webhook-events?limit=50&status=failed")
    stats, body = sample(lambda u: "/api/webhook-events/stats")
    assert sum(body["counts"].values()) >= depth

    def new_activity(user_id):
        """What 10 s of traffic leaves before the next refresh: new events, some processed, one failed."""
        cur.execute("""
            WITH d AS (INSERT INTO webhook_deliveries (body_sha256, object, entry_count)
                       VALUES (sha256(gen_random_uuid()::text::bytea), 'instagram', 5) RETURNING id)
            INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, payload)
            SELECT d.id, i, %s, 'instagram', 'comments', '{}' FROM d, generate_series(0, 4) i""", (user_id,))
        cur.execute("UPDATE webhook_events SET status = 'processed', processed_at = now() WHERE id IN "
                    "(SELECT id FROM webhook_events WHERE user_id = %s AND status = 'pending' LIMIT 4)", (user_id,))
        cur.execute("UPDATE webhook_events SET status = 'failed' WHERE id IN "
                    "(SELECT id FROM webhook_events WHERE user_id = %s AND status = 'pending' LIMIT 1)", (user_id,))

    stats_busy, body = sample(lambda u: "/api/webhook-events/stats", before=new_activity)

    # The database's own work for both pages of one user: the same index range scan, the same pages.
    plans = {}
    user_id = users[0][0]
    for name, before_at, before_id in (("first", None, None), ("deep", *decode_cursor(deep[user_id]))):
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query("list_user_webhook_events"),
                    {"user_id": user_id, "status": None, "object": None, "field": None, "account": None, "q": None,
                     "since": None, "until": None, "before_at": before_at, "before_id": before_id, "limit": 51})
        plan = cur.fetchone()[0][0]
        plans[name] = (plan["Execution Time"], plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"],
                       indexes_read(plan["Plan"]))

    plain = []
    for _ in range(10):
        started = time.perf_counter()
        cur.execute("SELECT status, count(*) FROM webhook_events GROUP BY status")
        cur.fetchall()
        plain.append((time.perf_counter() - started) * 1000)
    per_user = []
    for _ in range(30):
        started = time.perf_counter()
        cur.execute("SELECT status, count(*) FROM webhook_events WHERE user_id = %s GROUP BY status",
                    (rng.choice(users)[0],))
        cur.fetchall()
        per_user.append((time.perf_counter() - started) * 1000)

    print()
    print("Through the app (Flask test client: routing, session, CSRF, rate limit, SQL, JSON):")
    print(summary("GET /api/webhook-events?limit=50 (first page)", first, 30))
    print(summary(f"GET /api/webhook-events?limit=50&before=<{depth:,} deep>", deep_page, 30))
    print(summary("GET /api/webhook-events?limit=50&status=failed", failed_page, 30))
    print(summary("GET /api/webhook-events/stats", stats, 50))
    print(summary("GET /api/webhook-events/stats, after new activity", stats_busy, 50))
    print(summary("GET /api/webhook-events/stats, first read after load", cold))
    print("Plain SQL on the same table (psycopg2, no app):")
    print(summary("SELECT status, count(*) FROM webhook_events GROUP BY status", plain))
    print(summary("... WHERE user_id = <one user> GROUP BY status", per_user))
    deep_vs_first = percentile(deep_page, 95) / percentile(first, 95)
    print(f"Deep page / first page: p50 {percentile(deep_page, 50) / percentile(first, 50):.2f}, p95 {deep_vs_first:.2f}")
    for name, (ms, blocks, index) in plans.items():
        print(f"EXPLAIN ANALYZE, {name} page of one user: {ms:.3f} ms in the database, {blocks} buffers, index {index}")
    app.extensions["database"].close()
    conn.close()



def index_names(node: dict) -> list[str]:
    """Every index a plan reads, however deep (since issue 20 a partition's index scan sits under an Append)."""
    found = [node["Index Name"]] if "Index Name" in node else []
    for child in node.get("Plans", ()):
        found += index_names(child)
    return found


def indexes_read(plan: dict) -> str | None:
    """The indexes of a plan in a line: a partition's name made <week>, with how many partitions were read."""
    partitions: dict[str, set] = {}
    for name in index_names(plan):
        match = re.match(r"(webhook_events_)(w\d{8}|default)(_.*)", name)
        key = f"{match.group(1)}<week>{match.group(3)}" if match else name
        partitions.setdefault(key, set()).add(match.group(2) if match else name)
    return ", ".join(f"{key} ({len(parts)} partition{'s' if len(parts) > 1 else ''})" if "<week>" in key else key
                     for key, parts in sorted(partitions.items())) or None

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300, help="timed requests per endpoint")
    args = parser.parse_args()
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        parts = urlsplit(given)
        admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')
        admin.close()
        run(given, args.events, args.samples)
        return
    from webhook_app.db import embedded as embedded_db

    base = Path(tempfile.mkdtemp(prefix="icbench-"))
    try:
        admin = psycopg2.connect(embedded_db.server_url(base / "pgdata"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE bench")
        admin.close()
        run(embedded_db.server_url(base / "pgdata", "bench"), args.events, args.samples)
    finally:
        embedded_db.stop(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
