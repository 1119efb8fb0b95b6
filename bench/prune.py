"""Retention benchmark (SPEC 18): pruning a month of webhook events by dropping whole weekly partitions
(migration 0121, webhook_app.webhooks.retention) against the batched DELETE the project ran before, in
the same run on the same server, with the time and the WAL each writes.

    python -m bench.prune [--events 10000000] [--weeks 13]

Two databases get the same events, spread evenly over `weeks` weeks ending this week (all processed,
one delivery per 10 events, no inbox rows; loaded fast, see DELIVERIES below): one migrated up to 0120 (one table, as before issue 20), one
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

# The load, made fast enough for 10,000,000 events (about 170 s per million through the triggers and indexes
# before): one INSERT ... SELECT generate_series per week, straight into that week's partition (or into the one
# table before 0121), with the foreign-key and rollup triggers off (session_replication_role = replica, the
# rows being made consistent by construction) and the secondary indexes dropped first and built again after;
# the rollups are then filled from the rows as their insert trigger would have. Each event lies at least a day
# into its week (so the cutoff, a day into the first kept week at most, splits both databases the same way).
DELIVERIES = """
INSERT INTO webhook_deliveries (id, body_sha256, object, entry_count, received_at)
SELECT n, sha256(n::text::bytea), 'instagram', 10, %(first_week)s::timestamptz
FROM generate_series(1, %(deliveries)s) AS n
"""
EVENTS_OF_WEEK = """
INSERT INTO {table} (id, delivery_id, entry_index, user_id, object, field, entry_id, payload, status, attempts,
                     received_at, run_at, processed_at, updated_at)
SELECT e.n, (e.n - 1) / 10 + 1, (e.n - 1) %% 10, 1, 'instagram', 'messaging', 'ig-bench',
       jsonb_build_object('id', 'ig-bench', 'time', 1700000000, 'messaging',
                          jsonb_build_array(jsonb_build_object('message', jsonb_build_object('mid', 'm.' || e.n)))),
       'processed', 1, e.at, e.at, e.at + interval '1 second', e.at + interval '1 second'
FROM (
    SELECT n, %(week)s::timestamptz + interval '1 day' + ((n * 7919) %% 500000) * interval '1 second' AS at
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
) e
"""
ROLLUPS = """
INSERT INTO webhook_status_counts (user_id, status, n)
SELECT user_id, status, count(*) FROM webhook_events WHERE user_id IS NOT NULL GROUP BY 1, 2;
INSERT INTO webhook_activity_minutes (user_id, minute, received, processed, failed)
SELECT user_id, minute, sum(received), sum(processed), 0
FROM (SELECT user_id, date_trunc('minute', received_at) AS minute, 1 AS received, 0 AS processed FROM webhook_events
      UNION ALL
      SELECT user_id, date_trunc('minute', processed_at), 0, 1 FROM webhook_events) happened
GROUP BY 1, 2;
SELECT setval('webhook_events_id_seq', (SELECT max(id) FROM webhook_events));
SELECT setval('webhook_deliveries_id_seq', (SELECT max(id) FROM webhook_deliveries));
"""
# webhook_events' indexes that no constraint owns (dropped for the load, built again after it).
SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
WHERE i.indrelid = 'webhook_events'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def _wal(url: str) -> str:
    return sql(url, "SELECT pg_current_wal_insert_lsn()::text")[0][0]


def _wal_bytes(url: str, since: str) -> int:
    return int(sql(url, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", (since,))[0][0])


def load(url: str, events: int, weeks: int, first_week: datetime, partitioned: bool) -> dict:
    """Load the events (see DELIVERIES above); returns the seconds each step took."""
    conn = psycopg2.connect(url)
    steps = {}
    try:
        with conn, conn.cursor() as cur:
            started = time.perf_counter()
            cur.execute("SET LOCAL session_replication_role = replica")  # no FK or rollup trigger per row
            cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cur.execute(SECONDARY_INDEXES)
            indexes = cur.fetchall()
            for name, _ in indexes:
                cur.execute(f"DROP INDEX {name}")
            cur.execute("INSERT INTO users (id, email, password_hash) VALUES (1, 'bench@example.com', 'x')")
            cur.execute(DELIVERIES, {"deliveries": (events + 9) // 10, "first_week": first_week})
            per_week = -(-events // weeks)
            for week in range(weeks):
                first, last = week * per_week + 1, min(events, (week + 1) * per_week)
                starts = first_week + timedelta(weeks=week)
                table = f"webhook_events_w{starts:%Y%m%d}" if partitioned else "webhook_events"
                cur.execute(EVENTS_OF_WEEK.format(table=table), {"week": starts, "first": first, "last": last})
            steps["rows"] = time.perf_counter() - started
            started = time.perf_counter()
            for _, definition in indexes:  # ON ONLY (a partitioned table's) would build no partition's index
                cur.execute(definition.replace(" ON ONLY ", " ON ", 1))
            steps["indexes"] = time.perf_counter() - started
            started = time.perf_counter()
            cur.execute(ROLLUPS)
            steps["rollups"] = time.perf_counter() - started
            cur.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                        "WHERE c.relname LIKE 'webhook_events%%' AND i.indisvalid")
            steps["valid indexes"] = cur.fetchone()[0]
        conn.autocommit = True
        with conn.cursor() as cur:
            started = time.perf_counter()
            cur.execute("VACUUM ANALYZE")
            cur.execute("CHECKPOINT")
            steps["vacuum"] = time.perf_counter() - started
    finally:
        conn.close()
    return steps


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
            steps = load(url, args.events, args.weeks, first_week, partitioned=not kind.startswith("batched"))
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
                  f"WAL {wal_bytes / 1e6:9.1f} MB (loading took {loaded:.0f} s: "
                  + ", ".join(f"{step} {took:.0f}" + ("" if isinstance(took, int) else " s") for step, took in steps.items())
                  + ")", flush=True)
        old, new = results["batched delete (before)"], results["partition drop"]
        print(f"  partition drop / batched delete: time {new['seconds'] / old['seconds']:.2%}, "
              f"WAL {new['wal'] / old['wal']:.2%}; same events pruned: {old['pruned'] == new['pruned']}")
        return results
    finally:
        shutil.rmtree(before_dir, ignore_errors=True)
        pg.close()


if __name__ == "__main__":
    main()
