"""Intake benchmark: signed deliveries through gunicorn into PostgreSQL, next to a bare Flask route
under the same gunicorn settings (deployment/gunicorn.conf.py), in the same run.

    python -m bench.intake [--seconds 20] [--clients 8]
"""
from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys

from bench import load
from bench.common import ROOT, Postgres, machine, sql
from tests.helpers import free_port, wait_for_http


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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.intake")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    pg = Postgres()
    try:
        url = pg.fresh("bench_intake")
        env = app_env(url)
        workers, threads = env.get("GUNICORN_WORKERS", "2"), env.get("GUNICORN_THREADS", "4")
        print(f"intake benchmark · {machine()} · PostgreSQL {pg.version()} · gunicorn {workers} workers x "
              f"{threads} threads · {args.clients} client processes · {args.seconds:.0f}s each", flush=True)
        results = {}
        for name, target in (("bare Flask route", "bench.bare_app:app"), ("Insta Connect /webhook", "app:app")):
            proc, base = gunicorn(target, env)
            try:
                load.run(base, clients=args.clients, seconds=2, tag=f"warm-{name[:4]}")  # warm-up
                results[name] = load.run(base, clients=args.clients, seconds=args.seconds, tag=name[:4])
            finally:
                stop(proc)
            r = results[name]
            print(f"  {name:24s} {r['rate']:8,.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                  f"statuses {r['statuses']}", flush=True)
        stored = sql(url, "SELECT count(*) FROM webhook_events")[0][0]
        ours, bare = results["Insta Connect /webhook"], results["bare Flask route"]
        ratio = ours["rate"] / bare["rate"]
        print(f"  events stored: {stored} (every 200 is a committed row)")
        print(f"  ratio ours / bare: {ratio:.0%} (target >= 70%): {'met' if ratio >= 0.7 else 'MISSED'}", flush=True)
        return {"bare": bare, "ours": ours, "ratio": ratio, "stored": stored}
    finally:
        pg.close()


if __name__ == "__main__":
    main()
