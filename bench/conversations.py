"""Conversations benchmark: GET /api/conversations with 100,000 conversations and 1,000,000 messages across
100 users (target p95 < 30 ms), through the Flask app in-process (routing, login, JSON), beside the bare
keyset SQL of the same page on the same database and the app's cheapest API page (an empty event list:
what session, login and rate limit cost on this machine at this moment).

    .venv/bin/python -m bench.conversations [--conversations 100000] [--messages-per 10] [--samples 200]
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timezone

import bcrypt
import psycopg2

from bench.common import Postgres
from bench.dashboard import PASSWORD, USERS, logged_in_clients, machine, percentile

LOAD_SQL = """
INSERT INTO users (email, password_hash)
SELECT 'bench' || i || '@example.com', %(hash)s FROM generate_series(1, %(users)s) i;

-- A third each on Instagram, Messenger and WhatsApp; names as profile look-ups and WhatsApp leave them.
INSERT INTO contacts (user_id, channel, account_id, external_id, name, username, profile_checked_at)
SELECT u.ids[1 + g %% %(users)s], (ARRAY['instagram', 'messenger', 'whatsapp'])[1 + g %% 3], 'acct-' || (g %% %(users)s),
       'contact-' || g, (ARRAY['Anna', 'Ben', 'Chloé', 'Dmitri', 'Emeka', 'Fatima', 'Gustav'])[1 + g %% 7] || ' '
       || (ARRAY['Schmidt', 'Okafor', 'Dubois', 'Ivanova', 'Nakamura', 'Silva'])[1 + (g / 7) %% 6] || ' ' || g,
       'user' || g, now()
FROM generate_series(1, %(conversations)s) g CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM users) u;

INSERT INTO conversations (user_id, channel, kind, account_id, contact_id, contact_key, last_message_at,
                           last_inbound_at, last_read_at)
SELECT k.user_id, k.channel, 'direct', k.account_id, k.id, k.external_id, t.at, t.at,
       CASE WHEN k.id %% 4 = 0 THEN NULL ELSE t.at END
FROM contacts k CROSS JOIN LATERAL (SELECT now() - random() * interval '30 days' AS at) t;

INSERT INTO messages (user_id, conversation_id, channel, external_id, direction, kind, sender_id, text, content,
                      occurred_at, created_at)
SELECT c.user_id, c.id, c.channel, 'mid.' || c.id || '.' || n, CASE WHEN n %% 3 = 0 THEN 'outbound' ELSE 'inbound' END,
       CASE WHEN n %% 5 = 0 THEN 'image' ELSE 'text' END, c.contact_key,
       CASE WHEN n %% 5 = 0 THEN NULL ELSE 'message ' || n || ' about order ' || (c.id * 7 + n) %% 10000 END,
       CASE WHEN n %% 5 = 0 THEN '{"attachments": [{"type": "image", "url": "https://lookaside.fbsbx.com/x"}]}'
            ELSE '{}' END::jsonb,
       c.last_message_at - (%(per)s - n) * interval '1 minute', c.last_message_at - (%(per)s - n) * interval '1 minute'
FROM conversations c CROSS JOIN generate_series(1, %(per)s) n;
"""

BARE_SQL = """
SELECT c.id, c.last_message_at FROM conversations c
WHERE c.user_id = %s ORDER BY c.last_message_at DESC, c.id DESC LIMIT 51
"""


def summary(name: str, samples: list[float], budget: float | None = None) -> str:
    p95 = percentile(samples, 95)
    verdict = "" if budget is None else f"  (target p95 < {budget:g} ms: {'met' if p95 < budget else 'MISSED'})"
    return f"  {name:<44} n={len(samples):<4} p50={percentile(samples, 50):6.2f} ms  p95={p95:6.2f} ms{verdict}"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.conversations")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    pg = Postgres()
    try:
        dsn = pg.fresh("bench_conversations")
        print(f"Conversations benchmark · {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} · PostgreSQL {pg.version()}")
        print(f"Machine: {machine()}")
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        cur = conn.cursor()
        started = time.perf_counter()
        cur.execute(LOAD_SQL, {"hash": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(), "users": USERS,
                               "conversations": args.conversations, "per": args.messages_per})
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)")
        conversations, messages = cur.fetchone()
        print(f"Loaded {conversations:,} conversations and {messages:,} messages for {USERS} users "
              f"in {time.perf_counter() - started:.1f} s")
        users, clients, app = logged_in_clients(cur, dsn)
        cur.execute("SELECT user_id, count(*) FROM conversations GROUP BY user_id")
        owned = dict(cur.fetchall())  # below 5,000 conversations a user's first page is not full
        with_any = [u for u in users if owned.get(u[0])]
        rng = random.Random(7)
        paths = {
            "first page (limit 50)": lambda u: "/api/conversations?limit=50",
            "unread only": lambda u: "/api/conversations?limit=50&unread=true",
            "WhatsApp only": lambda u: "/api/conversations?limit=50&channel=whatsapp",
            "q= a name (Fatima)": lambda u: "/api/conversations?limit=50&q=fatima",
            "q= message text (order 4242)": lambda u: "/api/conversations?limit=50&q=order%204242",
            "one conversation (its 10 messages)": None,
        }
        first_ids = {}
        results = {}
        bare = []
        for user_id, _ in users[:20]:  # warm the caches, untimed
            clients[user_id].time_get("/api/conversations?limit=50")
        for name, path_for in paths.items():
            timings = []
            for _ in range(args.samples):
                user_id = rng.choice(users if path_for is not None else with_any)[0]
                if path_for is None:
                    if user_id not in first_ids:
                        first_ids[user_id] = clients[user_id].time_get("/api/conversations?limit=1")[1][
                            "conversations"][0]["id"]
                    path = f"/api/conversations/{first_ids[user_id]}"
                else:
                    path = path_for(user_id)
                elapsed, body = clients[user_id].time_get(path)
                timings.append(elapsed)
                if name == "first page (limit 50)":
                    page = body["conversations"]
                    assert len(page) == min(50, owned.get(user_id, 0)), (user_id, len(page))
                    assert not page or page[0]["last_message"]
                    t = time.perf_counter()
                    cur.execute(BARE_SQL, (user_id,))
                    cur.fetchall()
                    bare.append((time.perf_counter() - t) * 1000)
            results[name] = timings
            print(summary(name, timings, 30 if name == "first page (limit 50)" else None), flush=True)
        print(summary("reference: bare keyset SQL of the first page", bare))
        events = [clients[rng.choice(users)[0]].time_get("/api/webhook-events?limit=50")[0]
                  for _ in range(args.samples)]
        print(summary("reference: GET /api/webhook-events?limit=50 (empty)", events))
        ratio = percentile(results["first page (limit 50)"], 95) / percentile(bare, 95)
        print(f"  first page p95 / bare SQL p95: {ratio:.1f}x")
        return {"results": results, "bare": bare}
    finally:
        pg.close()


if __name__ == "__main__":
    main()
