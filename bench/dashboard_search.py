"""Events search (`q=`) and the 7 d / 30 d activity charts at scale, before and after migration 0150.

    python -m bench.dashboard_search [--events 1000000] [--samples 40]

Loads N webhook events (default a million) for 100 users spread over the last 30 days, in weekly
partitions as production has them, with generate_series (one statement; the rollup triggers fire).
Then times through the Flask app in-process (routing, session, SQL, JSON) each user's
`/api/webhook-events?q=` for a comment id (in one payload), a word in none (the whole history looked
through) and a common word, and `/activity?range=7d|30d`; and, in the same rounds on the same rows,
the SQL alone of both queries as shipped (0150: the filter as one inlined function, the hourly
rollup) and as they were before 0150 (copied below from git).
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timezone

import bcrypt
import psycopg2

from bench.common import Postgres
from bench.dashboard import PASSWORD, USERS, logged_in_clients, machine, percentile, summary
from webhook_app.db.migrations import migrate
from webhook_app.db.queries import query

LOAD_SQL = """
INSERT INTO users (email, password_hash)
SELECT 'bench' || i || '@example.com', %(hash)s FROM generate_series(1, %(users)s) i;

INSERT INTO webhook_deliveries (body_sha256, object, entry_count, received_at)
SELECT sha256(('delivery-' || d)::bytea), 'instagram', 100, now() - interval '30 days'
FROM generate_series(1, %(events)s / 100) d;

-- Comments, messages and WhatsApp texts over the last 30 days, one user in 100 each, mostly processed.
INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload, status,
                            attempts, errors, received_at, run_at, processed_at, updated_at)
SELECT (g - 1) / 100 + 1, (g - 1) %% 100, u.ids[1 + g %% %(users)s],
       (ARRAY['instagram', 'page', 'whatsapp_business_account'])[1 + g %% 3],
       (ARRAY['comments', 'messaging', 'mentions', 'feed', 'messages'])[1 + g %% 5],
       (17841400000000000 + g %% %(users)s)::text,
       jsonb_build_object('id', (17841400000000000 + g %% %(users)s)::text, 'time', g,
                          'changes', jsonb_build_array(jsonb_build_object('field', 'comments',
                              'value', jsonb_build_object('id', 'c' || g, 'media', jsonb_build_object('id', 'm' || g %% 977),
                                  'from', jsonb_build_object('id', (g::bigint * 7919) %% 1000003, 'username', 'fan_' || g %% 5003),
                                  'text', (ARRAY['Love this!', 'How much is it?', 'Do you ship to Lyon?',
                                                 'Is the blue one back in stock?', 'Great photo',
                                                 'When does the shop open?'])[1 + g %% 6] || ' order ' || g)))),
       s.status,
       CASE s.status WHEN 'processed' THEN 1 WHEN 'failed' THEN 2 WHEN 'dead_letter' THEN 4 ELSE 0 END,
       CASE WHEN s.status IN ('failed', 'dead_letter')
            THEN jsonb_build_array(jsonb_build_object('attempt', 1, 'at', t.at, 'message', 'KeyError: ''value'''))
            ELSE '[]'::jsonb END,
       t.at, t.at, CASE WHEN s.status = 'processed' THEN t.at + interval '2 seconds' END, t.at
FROM generate_series(1, %(events)s) g
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM users) u
CROSS JOIN LATERAL (SELECT now() - (g::bigint * 7919 %% 100003) / 100003.0 * interval '30 days' AS at) t  -- spread by g
CROSS JOIN LATERAL (SELECT CASE WHEN g %% 100 < 95 THEN 'processed' WHEN g %% 100 < 97 THEN 'pending'
                                WHEN g %% 100 < 99 THEN 'failed' ELSE 'dead_letter' END AS status) s;
"""

BEFORE_ACTIVITY = """
WITH buckets AS (
    SELECT date_bin(%(bucket)s::interval, received_at, '2000-01-01'::timestamptz) AS at, 1 AS received,
           0 AS processed, (status IN ('failed', 'dead_letter'))::int AS failed
    FROM webhook_events WHERE user_id = %(user_id)s AND received_at > now() - %(span)s::interval
    UNION ALL
    SELECT date_bin(%(bucket)s::interval, processed_at, '2000-01-01'::timestamptz), 0, 1, 0
    FROM webhook_events WHERE user_id = %(user_id)s AND processed_at > now() - %(span)s::interval
)
SELECT at, sum(received)::int AS received, sum(processed)::int AS processed, sum(failed)::int AS failed
FROM buckets GROUP BY at ORDER BY at
"""
# Before 0150 (git show main:sql/webhooks.sql): the filter written out, the activity counted from the events.
BEFORE_SEARCH = """
SELECT id FROM webhook_events
WHERE user_id = %(user_id)s
  AND (%(q)s::text IS NULL OR id::text = %(q)s OR entry_id = %(q)s
       OR strpos(lower(payload::text), lower(%(q)s)) > 0)
ORDER BY received_at DESC, id DESC LIMIT 51
"""


def load(cur, events: int) -> None:
    started = time.perf_counter()
    for week in range(6):  # the weekly partitions the prune job keeps ahead and behind
        cur.execute("SELECT webhook_events_create_partition((now() - make_interval(days => %s))::date)", (week * 7,))
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    cur.execute(LOAD_SQL, {"hash": password_hash, "users": USERS, "events": events})
    loaded = time.perf_counter() - started
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT count(*) FROM webhook_events")
    total = cur.fetchone()[0]
    cur.execute("SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('webhook_events')")
    size = cur.fetchone()[0]
    print(f"Loaded {total:,} events for {USERS} users over 30 days in {loaded:.1f} s; webhook_events {size} "
          f"with indexes")


def timed(cur, statement: str, params: dict) -> float:
    started = time.perf_counter()
    cur.execute(statement, params)
    cur.fetchall()
    return (time.perf_counter() - started) * 1000


def run(dsn: str, events: int, samples: int) -> None:
    print(f"Events search and long-range charts · {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"Machine: {machine()}")
    migrate(dsn)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SHOW server_version")
    print(f"PostgreSQL {cur.fetchone()[0]}")
    load(cur, events)
    users, clients, app = logged_in_clients(cur, dsn)
    rng = random.Random(17)
    per_user = events // USERS
    # Each user's first chart read folds the minutes the bulk load left (30 days of them) into hours.
    cold = [clients[u].time_get("/api/webhook-events/activity?range=30d")[0] for u, _ in users]
    cur.execute("VACUUM ANALYZE webhook_activity_hours")

    def comment_id(user_id):
        cur.execute("SELECT payload #>> '{changes,0,value,id}' FROM webhook_events WHERE user_id = %s "
                    "ORDER BY received_at LIMIT 1 OFFSET %s", (user_id, rng.randrange(max(1, per_user // 2))))
        return cur.fetchone()[0]   # "c123456": one comment's id, somewhere in the user's history

    searches = {
        "q=<a comment id, in one payload>": comment_id,
        "q=<a word in no payload>": lambda u: "refund-" + str(rng.randrange(10 ** 6)),
        "q=Lyon (in one payload in six)": lambda u: "Lyon",
    }
    ranges = {"range=7d": ("7 days", "1 hour"), "range=30d": ("30 days", "1 day")}
    filters = {"status": None, "object": None, "field": None, "account": None, "since": None, "until": None,
               "before_at": None, "before_id": None, "limit": 51}
    app_t = {name: [] for name in (*searches, *ranges)}
    before = {name: [] for name in app_t}
    after = {name: [] for name in app_t}
    for round_ in range(samples):
        user_id = rng.choice(users)[0]
        for name, make in searches.items():
            q = make(user_id)
            elapsed, body = clients[user_id].time_get(f"/api/webhook-events?limit=50&q={q}")
            if round_ >= 3:   # the first rounds only warm the cache
                app_t[name].append(elapsed)
                after[name].append(timed(cur, query("list_user_webhook_events"), {**filters, "user_id": user_id, "q": q}))
                before[name].append(timed(cur, BEFORE_SEARCH, {"user_id": user_id, "q": q}))
            if name.startswith("q=<a comment"):
                assert body["events"], q
        for name, (span, bucket) in ranges.items():
            elapsed, body = clients[user_id].time_get(f"/api/webhook-events/activity?{name}")
            if round_ >= 3:
                app_t[name].append(elapsed)
                args = {"user_id": user_id, "span": span, "bucket": bucket}
                after[name].append(timed(cur, query("webhook_activity_by_bucket"), args))
                before[name].append(timed(cur, BEFORE_ACTIVITY, args))
            assert sum(b[1] for b in body["buckets"]) > 0

    print()
    print("Through the app (Flask test client: routing, session, SQL, JSON), with 0150:")
    for name in app_t:
        print(summary(f"GET ...{name}", app_t[name], 100))
    print(summary("GET ...activity?range=30d, first read after the load", cold))
    print("The SQL alone, same rows, same run: before 0150 (its queries, from git) and after:")
    for name in app_t:
        print(summary(f"{name} before", before[name]))
        print(summary(f"{name} after", after[name]))
        print(f"{'':<52} p50 {percentile(before[name], 50) / percentile(after[name], 50):.1f}x, "
              f"p95 {percentile(before[name], 95) / percentile(after[name], 95):.1f}x faster")
    app.extensions["database"].close()
    conn.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=60, help="timed requests per case, before and after")
    args = parser.parse_args(argv)
    pg = Postgres()
    try:
        run(pg.fresh("bench", migrated=False), args.events, args.samples)
    finally:
        pg.close()


if __name__ == "__main__":
    main()
