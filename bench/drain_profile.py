"""Where the drain's time goes: the realistic mix (bench/drain_mix.py) through the real processor, with every
named statement timed on both sides (the client's round trip, and the server's execution from
pg_stat_statements), the commits timed, and the workers' Python time (their threads' CPU time).

    python -m bench.drain_profile [--events 10000] [--workers 2] [--batch-size 500] [--field mix] [--cprofile]

`--cprofile` also runs one more drain with one worker under cProfile and prints its costliest functions.
The embedded server is restarted once with pg_stat_statements loaded (with BENCH_DATABASE_URL, the server's
own setting decides: without the extension only the client's figures are printed).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import threading
import time
from collections import defaultdict

from bench import drain_mix
from bench.common import Postgres, machine, settings_for, sql
from bench.drain import SEED
from webhook_app.db import embedded as embedded_db
from webhook_app.db import pool
from webhook_app.webhooks.processor import Processor

_NAMED = re.compile(r"/\* ([a-z0-9_]+) \*/")
_lock = threading.Lock()
_held = threading.local()    # when this thread's batch took the per-user lock
_serial = [0, 0.0]           # batches, seconds from taking the per-user lock to the commit that released it
_client: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])   # name -> [calls, seconds]


def _instrument() -> None:
    """Name every statement in a leading comment (pg_stat_statements keeps it) and time it; time commits."""
    original_query, original_execute = pool.query, pool.Transaction._execute
    original_commit = pool._Connection.commit

    def named_query(name: str) -> str:
        first, rest = original_query(name).split(None, 1)  # inside the statement: a leading comment is not kept
        return f"{first} /* {name} */ {rest}"

    def timed_execute(self, statement, params=None):
        started = time.perf_counter()
        try:
            return original_execute(self, statement, params)
        finally:
            spent = time.perf_counter() - started
            text = statement.decode("utf-8", "replace") if isinstance(statement, bytes) else statement
            names = _NAMED.findall(text)  # several for Transaction.run_together: one round trip
            name = " + ".join(names) if names else text.split()[0]
            with _lock:
                _client[name][0] += 1
                _client[name][1] += spent
            if "lock_user_conversations" in names and getattr(_held, "since", None) is None:
                _held.since = time.perf_counter()

    def timed_commit(self):
        started = time.perf_counter()
        try:
            return original_commit(self)
        finally:
            ended = time.perf_counter()
            since, _held.since = getattr(_held, "since", None), None
            with _lock:
                _client["(commit)"][0] += 1
                _client["(commit)"][1] += ended - started
                if since is not None:
                    _serial[0] += 1
                    _serial[1] += ended - since

    original_rows = pool.Database._statement_rows

    def timed_rows(self, name, params):
        started = time.perf_counter()
        try:
            return original_rows(self, name, params)
        finally:
            with _lock:
                _client[name][0] += 1
                _client[name][1] += time.perf_counter() - started

    pool.query = named_query
    pool.Database._statement_rows = timed_rows
    pool.Transaction._execute = timed_execute
    pool._Connection.commit = timed_commit


def _with_statements(pg: Postgres) -> bool:
    """Restart the embedded server with pg_stat_statements loaded; False when that is not possible."""
    if pg._base is None:
        return bool(sql(pg.admin_url, "SELECT 1 FROM pg_settings WHERE name = 'shared_preload_libraries' "
                                      "AND setting LIKE '%%pg_stat_statements%%'"))
    sql(pg.admin_url, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    sql(pg.admin_url, "ALTER SYSTEM SET pg_stat_statements.track = 'all'")
    embedded_db.stop(pg._base / "pgdata")
    pg.admin_url = embedded_db.server_url(pg._base / "pgdata")
    return True


def _seed(pg: Postgres, name: str, field: str, events: int) -> str:
    url = pg.fresh(name)
    if field == "mix":
        drain_mix.seed(sql, url, events, name)
    else:
        sql(url, SEED, {"tag": name, "n": events, "field": field})
    sql(url, "VACUUM ANALYZE webhook_events")
    return url


def _thread_cpu(processor: Processor) -> dict[str, float]:
    """Wrap the workers' loop so each reports its own CPU time (Python and the driver) when it ends."""
    spent: dict[str, float] = {}
    drain = processor._drain

    def measured(name: str) -> None:
        started = time.thread_time()
        try:
            drain(name)
        finally:
            spent[name] = time.thread_time() - started

    processor._drain = measured
    return spent


def profile(pg: Postgres, field: str, events: int, workers: int, batch_size: int, server: bool) -> None:
    url = _seed(pg, "bench_profile", field, events)
    if server:
        sql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        sql(url, "SELECT pg_stat_statements_reset()")
    _client.clear()
    _serial[:] = [0, 0.0]
    processor = Processor(settings_for(url), workers=workers, batch_size=batch_size)
    cpu = _thread_cpu(processor)
    started = time.perf_counter()
    totals = processor.run_once()
    wall = time.perf_counter() - started
    processor.close()
    assert totals.processed == events, totals
    served: dict[str, tuple[int, float, int]] = {}
    if server:
        rows = sql(url, "SELECT query, calls, total_exec_time, rows FROM pg_stat_statements "
                        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
        for text, calls, ms, nrows in rows:
            names = _NAMED.findall(text)
            if names:
                name = names[0]
                c, t, r = served.get(name, (0, 0.0, 0))
                served[name] = (c + calls, t + ms / 1000, r + nrows)
    busy = wall * workers
    in_sql = sum(seconds for _, seconds in _client.values())
    print(f"{field}: {events} events, {workers} worker(s), batch {batch_size}: {wall:.2f}s = {events / wall:,.0f}/s; "
          f"{totals.batches} batches", flush=True)
    print(f"  worker time {busy:.2f}s = {in_sql:.2f}s waiting on statements and commits ({in_sql / busy:.0%}) "
          f"+ {busy - in_sql:.2f}s in Python; the workers' own CPU {sum(cpu.values()):.2f}s", flush=True)
    if _serial[0]:
        print(f"  the per-user lock was held {_serial[1]:.2f}s in all ({_serial[1] / wall:.0%} of the drain's wall time; "
              f"{1000 * _serial[1] / _serial[0]:.1f} ms a batch): the workers take turns that long", flush=True)
    print(f"  round trips, as the workers waited for them:\n  {'statements':72} {'calls':>6} {'seconds':>8} "
          f"{'ms/call':>8} {'share':>6}")
    for name, (calls, seconds) in sorted(_client.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name[:72]:72} {calls:6d} {seconds:8.3f} {1000 * seconds / max(calls, 1):8.2f} {seconds / busy:6.1%}")
    if served:
        print(f"  statements, as the server executed them (pg_stat_statements):\n  {'statement':36} {'calls':>6} "
              f"{'seconds':>8} {'ms/call':>8} {'rows':>8}")
        for name, (calls, seconds, rows) in sorted(served.items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:36} {calls:6d} {seconds:8.3f} {1000 * seconds / max(calls, 1):8.2f} {rows:8d}")
    print(flush=True)


def python_profile(pg: Postgres, field: str, events: int, batch_size: int) -> None:
    url = _seed(pg, "bench_profile_py", field, events)
    processor = Processor(settings_for(url), workers=1, batch_size=batch_size)
    profiler = cProfile.Profile()
    drain = processor._drain

    def profiled(name: str) -> None:
        profiler.enable()
        try:
            drain(name)
        finally:
            profiler.disable()

    processor._drain = profiled
    processor.run_once()
    processor.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    print(out.getvalue())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drain_profile")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--field", default="mix", help="mix, messaging (text only) or bench_noop")
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args(argv)
    pg = Postgres()
    try:
        server = _with_statements(pg)
        print(f"drain profile · {machine()} · PostgreSQL {pg.version()}"
              f"{'' if server else ' · no pg_stat_statements'}", flush=True)
        _instrument()
        profile(pg, args.field, args.events, args.workers, args.batch_size, server)
        if args.cprofile:
            python_profile(pg, args.field, args.events, args.batch_size)
    finally:
        pg.close()


if __name__ == "__main__":
    main()
