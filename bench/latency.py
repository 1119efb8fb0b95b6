"""Latency benchmark: a steady stream of signed deliveries through gunicorn, processed in follow mode;
time from the event's insert (in the receiver's transaction) to its `processed` update.

    python -m bench.latency [--rate 200] [--seconds 20]
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from bench import load
from bench.common import ROOT, Postgres, machine, percentile, sql
from bench.intake import app_env, gunicorn, stop

# Benchmark-only instrumentation: the wall-clock moment the processed update runs (clock_timestamp,
# not now(), which would be its transaction's start). received_at is the receiver's transaction
# start, a little before its commit: the figure errs on the slow side.
INSTRUMENT = """
CREATE TABLE bench_done (event_id bigint PRIMARY KEY, done_at timestamptz NOT NULL);
CREATE FUNCTION bench_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO bench_done VALUES (NEW.id, clock_timestamp()); RETURN NEW; END $$;
CREATE TRIGGER bench_done AFTER UPDATE ON webhook_events FOR EACH ROW
    WHEN (NEW.status = 'processed' AND OLD.status <> 'processed') EXECUTE FUNCTION bench_done();
"""


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.latency")
    parser.add_argument("--rate", type=float, default=200, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args(argv)
    pg = Postgres()
    try:
        url = pg.fresh("bench_latency")
        sql(url, INSTRUMENT)
        env = app_env(url)
        print(f"latency benchmark · {machine()} · PostgreSQL {pg.version()} · {args.rate:.0f} deliveries/s "
              f"for {args.seconds:.0f}s · processor --follow with its defaults", flush=True)
        web, base = gunicorn("app:app", env)
        worker = subprocess.Popen([sys.executable, "-m", "jobs.process_webhooks", "--follow"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)  # the worker is listening
            sent = load.run(base, clients=args.clients, seconds=args.seconds,
                            rate_per_client=args.rate / args.clients, tag="lat")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if sql(url, "SELECT count(*) FROM webhook_events WHERE status <> 'processed'")[0][0] == 0:
                    break
                time.sleep(0.2)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
            stop(web)
        statuses = dict(sql(url, "SELECT status, count(*) FROM webhook_events GROUP BY status"))
        rows = sql(url, "SELECT extract(epoch FROM d.done_at - e.received_at) * 1000 FROM webhook_events e "
                        "JOIN bench_done d ON d.event_id = e.id")
        latencies = [float(r[0]) for r in rows]
        result = {"sent": sent["requests"], "send_rate": sent["rate"], "processed": len(latencies),
                  "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
                  "max_ms": max(latencies) if latencies else float("nan"),
                  "intake_p50_ms": sent["p50_ms"], "intake_p99_ms": sent["p99_ms"]}
        print(f"  sent {result['sent']} deliveries at {result['send_rate']:.0f}/s (intake p50 "
              f"{result['intake_p50_ms']:.1f} ms, p99 {result['intake_p99_ms']:.1f} ms), statuses {sent['statuses']}")
        print(f"  receiver's insert -> processed: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
              f"max {result['max_ms']:.1f} ms over {result['processed']} events {statuses} "
              f"(targets p50 < 50 ms: {'met' if result['p50_ms'] < 50 else 'MISSED'}, "
              f"p99 < 250 ms: {'met' if result['p99_ms'] < 250 else 'MISSED'})", flush=True)
        return result
    finally:
        pg.close()


if __name__ == "__main__":
    main()
