"""Intake benchmark: signed deliveries through gunicorn into PostgreSQL, next to a bare Flask route
under the same gunicorn settings (deployment/gunicorn.conf.py: worker class included), in the same run.

    python -m bench.intake [--rounds 5] [--seconds 8] [--connections 64]

The load comes from wrk (Debian's `wrk` package), so that the load generator's own CPU stays
small next to the servers' on this 2-core machine. The two servers take turns, round after round,
and the ratio is the median of each round's pair: a neighbour's burst of CPU falls on one pair
instead of on one side. Five rounds by default: on a shared 2-core VM single rounds scatter by
±10 points, and the median of three moved with them. Every delivery body is unique, so none is
answered as a duplicate.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg2

from bench import load
from bench.common import ROOT, Postgres, machine, sql
from tests.support.live import free_port, wait_for_http

LUA = ROOT / "bench" / "wrk_deliveries.lua"
TARGETS = (("bare Flask route", "bench.bare_app:app"), ("Insta Connect /webhook", "app:app"))


def gunicorn(target: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(ROOT / "deployment" / "gunicorn.conf.py"),
                             "--bind", f"127.0.0.1:{port}", target], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/healthz", proc=proc)
    return proc, url


def app_env(url: str) -> dict:
    """The environment gunicorn and the processor run with in the benchmarks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("META_", "WEBHOOK_"))}
    env.update(DATABASE_URL=url, SECRET_KEY="bench", META_APP_SECRET=load.SECRET, META_VERIFY_TOKEN="bench",
               TOKEN_ENCRYPTION_KEYS=base64.b64encode(b"k" * 32).decode(), LOG_LEVEL="INFO",
               VAR_DIR=str(ROOT / "var" / "bench"))
    return env


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def write_deliveries(path: Path, tag: str, count: int) -> None:
    """count unique signed deliveries, one "<signature>\t<body>" per line, for wrk_deliveries.lua."""
    with path.open("w") as out:
        for n in range(count):
            body, signature = load.delivery(tag, n)
            out.write(f"{signature}\t{body.decode()}\n")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their live children (gunicorn's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        for proc in [pid] + _children(pid):
            try:
                fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _postgres_pids(admin_url: str) -> list[int]:
    """The benchmark's PostgreSQL server process (its children, the backends, are added when counting)."""
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('data_directory')")
            data_directory = cur.fetchone()[0]
    finally:
        conn.close()
    return [int(Path(data_directory, "postmaster.pid").read_text().split()[0])]


def _napping(url: str, notify_in_commit: bool):
    """A processor that naps for the whole run, LISTENing as the real one does; returns its connection.

    With notify_in_commit, the intake function NOTIFYs inside the deliveries' transaction and tells the
    caller nobody naps (so it sends no statement after the commit): the alternative migration 0160 did
    not take, measured in the same conditions.
    """
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("LISTEN webhook_events")
        cur.execute("INSERT INTO webhook_processor_naps (worker, until) VALUES ('bench:napping', now() + interval '1 day')")
        if notify_in_commit:
            cur.execute("SELECT pg_get_functiondef('store_webhook_deliveries(bytea, jsonb, jsonb)'::regprocedure)")
            definition = cur.fetchone()[0]
            marker = "SELECT delivery.body_sha256, naps.napping FROM delivery CROSS JOIN naps;"
            assert marker in definition, "store_webhook_deliveries changed: update bench.intake --notify-in-commit"
            definition = definition.replace(marker, "SELECT delivery.body_sha256, false FROM delivery;")
            cur.execute(definition.replace("RETURN QUERY", "IF EXISTS (SELECT 1 FROM webhook_processor_naps WHERE "
                                           "until > now()) THEN PERFORM pg_notify('webhook_events', 'intake'); "
                                           "END IF;\n    RETURN QUERY", 1))
    return conn


def wrk(url: str, deliveries: Path, *, seconds: float, connections: int, threads: int = 2) -> dict:
    """One wrk run: requests/s, p50/p99 (ms), non-2xx answers, and whether the deliveries ran out."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "10s",
                          "-s", str(LUA), url, "--", str(deliveries), "/webhook", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rate"] = result["requests"] / result["seconds"]
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.intake")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--napping", action="store_true",
                        help="a processor naps (and LISTENs) the whole run, so every batch NOTIFYs after its commit")
    parser.add_argument("--notify-in-commit", action="store_true",
                        help="with --napping: the NOTIFY inside the deliveries' commit instead (the design not taken)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("bench.intake needs wrk: apt-get install wrk")
    pg = Postgres()
    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        url = pg.fresh("bench_intake")
        env = app_env(url)
        listener = _napping(url, args.notify_in_commit) if args.napping else None
        config = runpy.run_path(str(ROOT / "deployment" / "gunicorn.conf.py"))
        server = f"{config['workers']} {config['worker_class']} workers"
        if config["worker_class"] == "gthread":
            server += f" x {config['threads']} threads"
        print(f"intake benchmark · {machine()} · PostgreSQL {pg.version()} · gunicorn {server} · "
              f"wrk 2 threads x {args.connections} connections · "
              f"{args.rounds} rounds of {args.seconds:.0f}s per target, taking turns"
              + (" · a processor napping: a NOTIFY per batch " + ("inside" if args.notify_in_commit else "after")
                 + " its commit" if args.napping else ""), flush=True)
        # Enough unique deliveries for 10,000 a second, a fresh file for each round of ours.
        per_round = int(10_000 * args.seconds)
        files = []
        for r in range(args.rounds + 1):
            path = work / f"deliveries-{r}.txt"
            write_deliveries(path, f"r{r}", per_round)
            files.append(path)
        for name, target in TARGETS:
            servers[name] = gunicorn(target, env)
        warm = {name: wrk(base, files[0], seconds=2, connections=args.connections)  # imports, pools, plans
                for name, (_, base) in servers.items()}
        results: dict[str, list[dict]] = {name: [] for name, _ in TARGETS}
        pg_pids = _postgres_pids(pg.admin_url)
        for r in range(1, args.rounds + 1):
            for name, (proc, base) in servers.items():
                cpu_before = (_cpu_seconds([proc.pid]), _cpu_seconds(pg_pids))
                result = wrk(base, files[r], seconds=args.seconds, connections=args.connections)
                cpu_after = (_cpu_seconds([proc.pid]), _cpu_seconds(pg_pids))
                result["gunicorn_us"] = (cpu_after[0] - cpu_before[0]) / result["requests"] * 1e6
                result["postgres_us"] = (cpu_after[1] - cpu_before[1]) / result["requests"] * 1e6
                results[name].append(result)
                print(f"  round {r} {name:24s} {result['rate']:8,.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                      f"p99 {result['p99_ms']:6.2f} ms  non-2xx {result['non_2xx']}  "
                      f"CPU per request: gunicorn {result['gunicorn_us']:4.0f} us, "
                      f"PostgreSQL {result['postgres_us']:4.0f} us", flush=True)
        bare, ours = (results[name] for name, _ in TARGETS)
        ratios = [o["rate"] / b["rate"] for b, o in zip(bare, ours)]
        ratio = statistics.median(ratios)
        stored, duplicates = sql(url, "SELECT count(*), coalesce(sum(duplicate_count), 0) FROM webhook_deliveries")[0]
        ours_runs = ours + [warm[TARGETS[1][0]]]
        answered = sum(r["requests"] - r["non_2xx"] for r in ours_runs)
        wrapped = sum(r["wrapped"] for r in ours_runs)
        print(f"  deliveries stored: {stored:,}; answered 200 (warm-up included): {answered:,}; "
              f"answered as duplicates: {duplicates}; files run out: {wrapped}")
        # wrk stops with requests in flight: stored but never counted as answered, so stored >= answered.
        if stored < answered or wrapped or duplicates or any(r["non_2xx"] or r["socket_errors"] for r in ours_runs):
            print("  INVALID RUN: some answers were not 200, or a body was sent twice")
        print(f"  median ours / bare: {statistics.median(o['rate'] for o in ours):,.0f} / "
              f"{statistics.median(b['rate'] for b in bare):,.0f} req/s; ratio per round "
              + ", ".join(f"{x:.0%}" for x in ratios)
              + f"; median {ratio:.0%} (target >= 90%): {'met' if ratio >= 0.9 else 'MISSED'}", flush=True)
        return {"bare": bare, "ours": ours, "ratio": ratio, "stored": stored}
    finally:
        for proc, _ in servers.values():
            stop(proc)
        if args.napping and listener is not None:
            listener.close()
        pg.close()


if __name__ == "__main__":
    main()
