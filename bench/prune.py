"""Retention benchmark (SPEC 18): pruning a month of webhook events by dropping whole weekly partitions
(migration 0121, webhook_app.webhooks.retention) against the batched DELETE the project ran before, in
the same run on the same server, with the time and the WAL each writes.

    python -m bench.prune [--events 10000000] [--weeks 13]

Two databases get the same events, spread over `weeks` weeks ending this week (all processed, one
delivery per 10 events, no inbox rows): one migrated up to 0120 (one table, as before issue 20), one
fully (partitioned). The oldest four weeks are past the retention period in both. Each database is
loaded, checkpointed, then pruned alone, and the WAL is the server's insert position before and after.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2

from bench.common import Postgres, machine, sql
from webhook_app.db import Database
from webhook_app.db.migrations import migrate, migration_files
from webhook_app.webhooks import retention

BATCH = 5000
# The retention statement before issue 20 (sql/webhooks.sql, prune_processed_webhook_events), run the same way:
# batches of 5,000 until one comes back short.
BATCHED_DELETE = """
DELETE FROM webhook_events WHERE id IN (
    SELECT id FROM webhook_events
    WHERE status = 'processed' AND processed_at < now() - make_interval(days => %(days)s)
    LIMIT %(limit)s
)"""

# Events are spread over the weeks, each at least a day into its week (so the cutoff, a day into the
# first kept week at most, splits the two databases' events the same way).
LOAD = """
INSERT INTO webhook_deliveries (body_sha256, object, entry_count, received_at)
SELECT sha256(n::text::bytea), 'instagram', 10, %(first_week)s::timestamptz
FROM generate_series(1, %(deliveries)s) AS n;

INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload, status, attempts,
                            received_at, run_at, processed_at, updated_at)
SELECT e.delivery_id, e.entry_index, 1, 'instagram', 'messaging', 'ig-bench',
       jsonb_build_object('id', 'ig-bench', 'time', 1700000000, 'messaging',
                          jsonb_build_array(jsonb_build_object('message', jsonb_build_object('mid', 'm.' || e.n)))),
       'processed', 1, e.at, e.at, e.at + interval '1 second', e.at + interval '1 second'
FROM (
    SELECT n, (n - 1) / 10 + 1 AS delivery_id, (n - 1) %% 10 AS entry_index,
           %(first_week)s::timestamptz + ((n - 1) %% %(weeks)s) * interval '1 week'
           + interval '1 day' + ((n::bigint * 7919) %% 500000) * interval '1 second' AS at
    FROM generate_series(1, %(events)s) AS n
) e;
"""


def _wal(url: str) -> str:
    return sql(url, "SELECT pg_current_wal_insert_lsn()::text")[0][0]


def _wal_bytes(url: str, since: str) -> int:
    return int(sql(url, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", (since,))[0][0])


def load(url: str, events: int, weeks: int, first_week: datetime) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO users (id, email, password_hash) VALUES (1, 'bench@example.com', 'x')")
            cur.execute(LOAD, {"events": events, "deliveries": (events + 9) // 10, "weeks": weeks,
                               "first_week": first_week})
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
            cur.execute("CHECKPOINT")
    finally:
        conn.close()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.prune")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--weeks", type=int, default=13, help="weeks the events span (the oldest 4 are pruned)")
    args = parser.parse_args(argv)
    pg = Postgres()
    before_dir = Path(tempfile.mkdtemp(prefix="icprune-"))
    try:
        for path in migration_files():
            if path.name[:4] < "0121":
                shutil.copy(path, before_dir)
        now = datetime.now(timezone.utc)
        this_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        first_week = this_week - timedelta(weeks=args.weeks - 1)
        kept_from = first_week + timedelta(weeks=4)
        days = (now - kept_from).days  # the cutoff falls within the first day of the first kept week
        print(f"prune benchmark · {machine()} · PostgreSQL {pg.version()} · {args.events:,} events over "
              f"{args.weeks} weeks from {first_week:%Y-%m-%d}; retention {days} days drops the oldest 4 weeks",
              flush=True)
        results = {}
        for kind in ("batched delete (before)", "partition drop"):
            url = pg.fresh("bench_prune_" + kind.split()[0])
            if kind.startswith("batched"):
                migrate(url, before_dir)
            else:
                migrate(url)
            started = time.perf_counter()
            if not kind.startswith("batched"):  # the weeks' partitions, as the prune job made them ahead over time
                sql(url, "SELECT webhook_events_create_partition((%s::timestamptz + n * interval '1 week')::date) "
                         "FROM generate_series(0, %s) AS n", (first_week, args.weeks - 1))
            load(url, args.events, args.weeks, first_week)
            loaded = time.perf_counter() - started
            rows_before = sql(url, "SELECT count(*) FROM webhook_events")[0][0]
            wal = _wal(url)
            started = time.perf_counter()
            if kind.startswith("batched"):
                db = Database(url, maxconn=1)
                try:
                    while True:
                        with db._connection() as conn, conn.cursor() as cur:
                            cur.execute(BATCHED_DELETE, {"days": days, "limit": BATCH})
                            if cur.rowcount < BATCH:
                                break
                finally:
                    db.close()
            else:
                db = Database(url, maxconn=1)
                try:
                    retention.drop_expired_partitions(db, days)
                finally:
                    db.close()
            seconds = time.perf_counter() - started
            wal_bytes = _wal_bytes(url, wal)
            pruned = rows_before - sql(url, "SELECT count(*) FROM webhook_events")[0][0]
            if not kind.startswith("batched"):
                assert sql(url, "SELECT count(*) FROM webhook_events_default") == [(0,)], "events outside the weeks"
            results[kind] = {"seconds": seconds, "wal": wal_bytes, "pruned": pruned}
            print(f"  {kind:24s} pruned {pruned:,} of {rows_before:,} events in {seconds:8.2f} s, "
                  f"WAL {wal_bytes / 1e6:9.1f} MB (loading took {loaded:.0f} s)", flush=True)
        old, new = results["batched delete (before)"], results["partition drop"]
        print(f"  partition drop / batched delete: time {new['seconds'] / old['seconds']:.2%}, "
              f"WAL {new['wal'] / old['wal']:.2%}; same events pruned: {old['pruned'] == new['pruned']}")
        return results
    finally:
        shutil.rmtree(before_dir, ignore_errors=True)
        pg.close()


if __name__ == "__main__":
    main()
