"""Scale-out benchmark (SPEC 18): signed deliveries through nginx to 1, 2 and 3 web instances, each
talking to PostgreSQL through PgBouncer (transaction pooling) and, beside it in the same run, directly.

    python -m bench.scale [--rounds 3] [--seconds 5] [--connections 64]

The same parts as tests/test_scale_out.py: Debian's pgbouncer and nginx, gunicorn with
deployment/gunicorn.conf.py (one worker per instance, so three instances are three processes as
three hosts would run them), wrk as the load (bench/wrk_deliveries.lua, every body unique). For each
number of instances the direct and the PgBouncer setups take turns, round after round; a figure is
the median over the rounds, and the ratio is the median of each round's PgBouncer / direct pair.
On one 2-core machine more instances cannot add CPU: what the figures show is what PgBouncer's hop
costs, and that adding instances does not make the intake queue on itself.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.common import ROOT, Postgres, machine, sql
from bench.intake import app_env, write_deliveries, wrk
from tests.support.scale import Nginx, PgBouncer, Web


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--instances", default="1,2,3")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.instances.split(",")]
    pg = Postgres()
    work = Path(tempfile.mkdtemp(prefix="icscale-", dir=ROOT / "var" if (ROOT / "var").exists() else None))
    running: list = []
    results: dict = {}
    try:
        url = pg.fresh("bench_scale")
        bouncer = PgBouncer(url, pool_size=20)
        running.append(bouncer)
        print(f"scale benchmark · {machine()} · PostgreSQL {pg.version()} · PgBouncer transaction pooling · "
              f"nginx · gunicorn 1 worker per instance · wrk 2 threads x {args.connections} connections · "
              f"{args.rounds} rounds of {args.seconds:.0f}s per setup, taking turns", flush=True)
        per_round = int(10_000 * args.seconds)
        files = iter(range(10_000))

        def deliveries() -> Path:
            path = work / f"deliveries-{next(files)}.txt"
            write_deliveries(path, path.stem, per_round)
            return path

        for n in counts:
            setups = {}
            for via, database_url in (("direct", url), ("pgbouncer", bouncer.url)):
                env = {**app_env(database_url), "DATABASE_LISTEN_URL": url, "GUNICORN_WORKERS": "1",
                       "LOG_LEVEL": "WARNING"}
                webs = [Web(env, work / f"{via}-{n}-{i}.log").start() for i in range(n)]
                nginx = Nginx(work / f"nginx-{via}-{n}", [web.port for web in webs])
                running.extend([*webs, nginx])
                setups[via] = (webs, nginx)
                wrk(nginx.url, deliveries(), seconds=2, connections=args.connections)  # warm-up: pools, plans
            runs: dict[str, list[dict]] = {"direct": [], "pgbouncer": []}
            for r in range(args.rounds):
                for via in (("direct", "pgbouncer") if r % 2 == 0 else ("pgbouncer", "direct")):
                    result = wrk(setups[via][1].url, deliveries(), seconds=args.seconds, connections=args.connections)
                    runs[via].append(result)
                    print(f"  {n} instance(s) round {r + 1} {via:9s} {result['rate']:7,.0f} deliveries/s  "
                          f"p99 {result['p99_ms']:7.1f} ms  non-2xx {result['non_2xx']}", flush=True)
            ratios = [b["rate"] / d["rate"] for d, b in zip(runs["direct"], runs["pgbouncer"])]
            results[n] = {via: {"rate": statistics.median(r["rate"] for r in rs),
                                "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                                "bad": sum(r["non_2xx"] + r["socket_errors"] for r in rs)} for via, rs in runs.items()}
            results[n]["ratio"] = statistics.median(ratios)
            for webs, nginx in setups.values():
                nginx.stop()
                for web in webs:
                    web.stop()
                running = [part for part in running if part is not nginx and part not in webs]
        stored, duplicates = sql(url, "SELECT count(*), coalesce(sum(duplicate_count), 0) FROM webhook_deliveries")[0]
        print(f"  deliveries stored: {stored:,}; answered as duplicates: {duplicates}")
        print("  instances | direct deliveries/s, p99 | PgBouncer deliveries/s, p99 | PgBouncer / direct")
        for n, row in results.items():
            d, b = row["direct"], row["pgbouncer"]
            print(f"  {n:9d} | {d['rate']:7,.0f}/s, {d['p99_ms']:6.1f} ms | {b['rate']:7,.0f}/s, {b['p99_ms']:6.1f} ms"
                  f" | {row['ratio']:.0%}{'  (some answers were not 200: INVALID)' if d['bad'] or b['bad'] else ''}")
        return results
    finally:
        for part in reversed(running):
            part.stop()
        pg.close()


if __name__ == "__main__":
    main()
