"""Drain benchmark: pending events through the real processor: no-op, Instagram text messages only, and
the realistic mix of bench/drain_mix.py (target >= 3,000 events/s), and Procrastinate and PgQueuer each
draining no-op jobs on the same PostgreSQL (skipped with --no-procrastinate, or when bench/.venv is missing).

    python -m bench.drain [--events 100000] [--workers 2] [--batch-size 500] [--no-procrastinate]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from bench import drain_mix
from bench.common import BENCH_VENV_PYTHON, ROOT, Postgres, machine, settings_for, sql
from webhook_app.webhooks.processor import Processor

# One delivery holding every event; each event's entry carries a field with no handler (no-op:
# processed with a note) or one Instagram message (an inbox row each).
SEED = """
WITH owner AS (INSERT INTO users (email, password_hash) VALUES ('bench@example.com', 'x') RETURNING id),
d AS (INSERT INTO webhook_deliveries (body_sha256, object, entry_count)
           VALUES (sha256(%(tag)s::bytea), 'instagram', %(n)s) RETURNING id)
INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload)
SELECT d.id, i, (SELECT id FROM owner), 'instagram', %(field)s, 'ig-bench',
       CASE WHEN %(field)s = 'messaging'
            THEN jsonb_build_object('id', 'ig-bench', 'messaging', jsonb_build_array(jsonb_build_object(
                 'sender', jsonb_build_object('id', 'c' || (i %% 97)), 'recipient', jsonb_build_object('id', 'ig-bench'),
                 'timestamp', 1700000000000 + i, 'message', jsonb_build_object('mid', 'mid.' || i, 'text', 'hello ' || i))))
            ELSE jsonb_build_object('id', 'ig-bench', 'changes', jsonb_build_array(
                 jsonb_build_object('field', 'bench_noop', 'value', jsonb_build_object('n', i))))
       END
FROM d, generate_series(0, %(n)s - 1) AS i;
"""


def server_cpu(pg: Postgres) -> dict[int, float] | None:
    """CPU seconds so far of each process of the benchmark's own embedded server (None for BENCH_DATABASE_URL's)."""
    if pg._base is None:
        return None
    try:
        postmaster = int((pg._base / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    tick, found = os.sysconf("SC_CLK_TCK"), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(stat.parent.name)
        if pid == postmaster or int(fields[1]) == postmaster:  # fields[1]: the parent's pid
            found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return found


def drain_ours(pg: Postgres, name: str, field: str, events: int, workers: int, batch_size: int) -> dict:
    url = pg.fresh(name)
    if field == "mix":
        drain_mix.seed(sql, url, events, name)
    else:
        sql(url, SEED, {"tag": name, "n": events, "field": field})
    sql(url, "VACUUM ANALYZE webhook_events")
    processor = Processor(settings_for(url), workers=workers, batch_size=batch_size)
    server_before, cpu_before = server_cpu(pg), time.process_time()
    started = time.perf_counter()
    totals = processor.run_once()
    elapsed = time.perf_counter() - started
    # Before the pool closes: its sessions' processes are counted while they live.
    client, server_after = time.process_time() - cpu_before, server_cpu(pg)
    processor.close()
    left = sql(url, "SELECT count(*) FROM webhook_events WHERE status <> 'processed'")[0][0]
    inbox = sql(url, "SELECT count(*) FROM messages")[0][0]
    assert left == 0 and totals.processed == events, (left, totals)
    server = (sum(t - server_before.get(pid, 0.0) for pid, t in server_after.items())
              if server_before is not None and server_after is not None else None)
    return {"events": events, "seconds": elapsed, "rate": events / elapsed, "inbox_rows": inbox,
            "client_cpu_ms_per_1000": 1e6 * client / events,
            "server_cpu_ms_per_1000": None if server is None else 1e6 * server / events}


def cpu_line(result: dict) -> str:
    """CPU per 1,000 events: what a shared machine's load changes least (the wall time waits for the CPU too)."""
    server = result["server_cpu_ms_per_1000"]
    return (f"; CPU per 1,000 events: processor {result['client_cpu_ms_per_1000']:.0f} ms"
            + ("" if server is None else f" + PostgreSQL {server:.0f} ms"))


def drain_procrastinate(pg: Postgres, jobs: int, concurrency: int) -> dict:
    if not BENCH_VENV_PYTHON.exists():
        raise SystemExit("bench/.venv is missing: `make bench` (python -m bench.run) makes it from "
                         "bench/requirements-reference.txt")
    url = pg.fresh("bench_procrastinate", migrated=False)
    out = subprocess.run([str(BENCH_VENV_PYTHON), str(ROOT / "bench" / "procrastinate_drain.py"), url,
                          str(jobs), str(concurrency)], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def drain_pgqueuer(pg: Postgres, jobs: int, batch_size: int) -> dict:
    if not BENCH_VENV_PYTHON.exists():
        raise SystemExit("bench/.venv is missing: `make bench` (python -m bench.run) makes it from "
                         "bench/requirements-reference.txt")
    url = pg.fresh("bench_pgqueuer", migrated=False)
    out = subprocess.run([str(BENCH_VENV_PYTHON), str(ROOT / "bench" / "pgqueuer_drain.py"), url, str(jobs),
                          str(batch_size)], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.drain")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--procrastinate-concurrency", type=int, default=10)
    parser.add_argument("--pgqueuer-batch-size", type=int, default=100)
    parser.add_argument("--no-procrastinate", action="store_true")
    args = parser.parse_args(argv)
    pg = Postgres()
    try:
        print(f"drain benchmark · {machine()} · PostgreSQL {pg.version()}", flush=True)
        noop = drain_ours(pg, "bench_drain_noop", "bench_noop", args.events, args.workers, args.batch_size)
        print(f"  ours, no-op handler:    {noop['events']} events in {noop['seconds']:.2f}s = {noop['rate']:,.0f}/s"
              f"{cpu_line(noop)}", flush=True)
        text = drain_ours(pg, "bench_drain_inbox", "messaging", args.events, args.workers, args.batch_size)
        print(f"  ours, text messages:    {text['events']} events in {text['seconds']:.2f}s = {text['rate']:,.0f}/s "
              f"({text['inbox_rows']} messages){cpu_line(text)}", flush=True)
        mix = drain_ours(pg, "bench_drain_mix", "mix", args.events, args.workers, args.batch_size)
        print(f"  ours, realistic mix:    {mix['events']} events in {mix['seconds']:.2f}s = {mix['rate']:,.0f}/s "
              f"({mix['inbox_rows']} messages); target >= 3,000/s: {'met' if mix['rate'] >= 3000 else 'MISSED'}; "
              f"{mix['rate'] / noop['rate']:.0%} of the no-op drain{cpu_line(mix)}", flush=True)
        result = {"noop": noop, "text": text, "mix": mix, "workers": args.workers, "batch_size": args.batch_size}
        if args.no_procrastinate or not BENCH_VENV_PYTHON.exists():
            print("  Procrastinate: skipped (--no-procrastinate, or bench/.venv missing)", flush=True)
            return result
        proc = drain_procrastinate(pg, args.events, args.procrastinate_concurrency)
        print(f"  Procrastinate {proc['version']}, no-op: {proc['jobs']} jobs in {proc['seconds']:.2f}s = "
              f"{proc['rate']:,.0f}/s (concurrency {proc['concurrency']})", flush=True)
        pgq = drain_pgqueuer(pg, args.events, args.pgqueuer_batch_size)
        print(f"  PgQueuer {pgq['version']}, no-op:      {pgq['jobs']} jobs in {pgq['seconds']:.2f}s = "
              f"{pgq['rate']:,.0f}/s (batch size {pgq['batch_size']})", flush=True)
        ratio = noop["rate"] / proc["rate"]
        print(f"  ratio no-op ours / Procrastinate: {ratio:.1f}x (target >= 10x); "
              f"ours / PgQueuer: {noop['rate'] / pgq['rate']:.1f}x; "
              f"no-op target >= 5,000/s: {'met' if noop['rate'] >= 5000 else 'MISSED'}", flush=True)
        return {**result, "procrastinate": proc, "pgqueuer": pgq, "ratio": ratio}
    finally:
        pg.close()


if __name__ == "__main__":
    main()
