"""What the receivers could reach if the database cost no CPU: the real app, with each group-commit
flush replaced by a wait of 0, 1, 5 and 15 ms (bench/stub_store_app.py), next to the bare Flask route,
under the same gunicorn settings and the same wrk load as bench.intake, taking turns.

    python -m bench.intake_ceiling [--rounds 3] [--seconds 6] [--waits 0,0.001,0.005,0.015]

It separates the two costs of a durable write on a shared 2-core machine: the CPU that PostgreSQL
and psycopg2 spend, and what the waiting itself costs (a worker whose requests wait for a flush
spends more CPU per request, and holds only as many requests as wrk keeps connections open).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys

from bench import intake
from bench.common import ROOT, Postgres, machine


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_ceiling")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--waits", default="0,0.001,0.005,0.015")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("bench.intake_ceiling needs wrk: apt-get install wrk")
    waits = [float(w) for w in args.waits.split(",")]
    pg = Postgres()  # the app checks its database at start; the stubbed receivers never write to it
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        env = intake.app_env(pg.fresh("bench_intake_ceiling"))
        print(f"intake ceiling · {machine()} · flush replaced by a wait · wrk 2 threads x {args.connections} "
              f"connections · {args.rounds} rounds of {args.seconds:.0f}s, taking turns", flush=True)
        path = ROOT / "var" / "bench" / "ceiling.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        intake.write_deliveries(path, "ceiling", int(10_000 * args.seconds))  # nothing is stored: reuse is fine
        servers["bare Flask route"] = intake.gunicorn("bench.bare_app:app", env)
        for wait in waits:
            servers[f"ours, flush = {wait * 1000:g} ms"] = intake.gunicorn(
                "bench.stub_store_app:app", dict(env, STUB_FLUSH_SECONDS=str(wait)))
        for _, base in servers.values():
            intake.wrk(base, path, seconds=2, connections=args.connections)
        rates: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, (_, base) in servers.items():
                rates[name].append(intake.wrk(base, path, seconds=args.seconds, connections=args.connections)["rate"])
        bare = rates["bare Flask route"]
        for name, values in rates.items():
            ratio = statistics.median(v / b for v, b in zip(values, bare))
            print(f"  {name:24s} {statistics.median(values):8,.0f} req/s   median ratio to the bare route {ratio:4.0%}")
    finally:
        for proc, _ in servers.values():
            intake.stop(proc)
        pg.close()


if __name__ == "__main__":
    main()
