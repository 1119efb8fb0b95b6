"""Live-updates benchmark: open /api/stream clients while signed deliveries arrive at a steady rate.

    python -m bench.live [--streams 100] [--rate 200] [--seconds 10] [--rounds 2]

One gunicorn (deployment/gunicorn.conf.py, gevent workers) over a fresh database. Each round sends
the same paced load twice, back to back: once with no stream open (the reference), once with
`--streams` SSE clients open for the user who owns every delivery. Reported: the intake's achieved
rate and latency in both (the ratio is what "unchanged" means), and, for every event, the time from
its receiver's transaction (received_at, a little before the commit: the figure errs slow) to the
first `events` frame whose id covers it, at each client. The processor is not running: the streams
are fed by the intake's own NOTIFY (channel webhook_events), which is what a new delivery sends.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

from bench import load
from bench.common import Postgres, machine, percentile, sql
from bench.intake import app_env, gunicorn, stop
from tests.support.live import AuthActions, Browser


class StreamClient(threading.Thread):
    """One open event stream: records (receipt time, frame id) of each `events` frame."""

    def __init__(self, base: str, cookie: str):
        super().__init__(daemon=True)
        url = urlsplit(base)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=60)
        self.sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: insta_session={cookie}\r\n"
                          f"Accept: text/event-stream\r\n\r\n".encode())
        self.frames: list[tuple[float, int]] = []
        self.hello = threading.Event()

    def run(self):
        reader = self.sock.makefile("r", encoding="utf-8", newline="\n")
        event = None
        try:
            for line in reader:
                line = line.rstrip("\r\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("id: ") and event == "hello":
                    self.hello.set()
                elif line.startswith("id: ") and event == "events":
                    self.frames.append((time.time(), int(line[4:])))
                elif line == "":
                    event = None
        except (OSError, ValueError):
            pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def delivery_latencies(url: str, clients: list[StreamClient], since_id: int, tag: str) -> list[float]:
    """For each event after since_id and each client: ms from received_at to the first frame covering it."""
    events = sql(url, "SELECT id, extract(epoch FROM received_at) FROM webhook_events WHERE id > %s "
                      "AND payload::text LIKE %s ORDER BY id", (since_id, f"%{tag}%"))
    out = []
    for client in clients:
        frames = sorted(client.frames, key=lambda f: f[1])
        i = 0
        earliest_after = []  # frames by id, keeping the earliest receipt at or above each id
        best = float("inf")
        for at, fid in reversed(frames):
            best = min(best, at)
            earliest_after.append((fid, best))
        earliest_after.reverse()
        for event_id, received in events:
            while i < len(earliest_after) and earliest_after[i][0] < event_id:
                i += 1
            if i < len(earliest_after):
                out.append((earliest_after[i][1] - float(received)) * 1000)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.live")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=10, help="processes sending deliveries")
    args = parser.parse_args(argv)
    pg = Postgres()
    try:
        url = pg.fresh("bench_live")
        env = app_env(url)
        print(f"live benchmark · {machine()} · PostgreSQL {pg.version()} · {args.streams} streams · "
              f"{args.rate:.0f} deliveries/s for {args.seconds:.0f}s · {args.rounds} round(s)", flush=True)
        web, base = gunicorn("app:app", env)
        try:
            browser = Browser(base)
            AuthActions(browser).register("bench@example.com", "bench password")
            owner = sql(url, "SELECT id FROM users WHERE email = 'bench@example.com'")[0][0]
            sql(url, "INSERT INTO account_routes (external_id, user_id, kind) VALUES ('ig-bench', %s, 'instagram')",
                (owner,))
            cookie = browser.session_cookie
            rounds = []
            for n in range(args.rounds):
                # The order alternates, so warming up (or a neighbour's burst) does not always favour one side.
                bare = None if n % 2 else load.run(base, clients=args.clients, seconds=args.seconds,
                                                   rate_per_client=args.rate / args.clients, tag=f"bare{n}-")
                streams = [StreamClient(base, cookie) for _ in range(args.streams)]
                for client in streams:
                    client.start()
                for client in streams:
                    client.hello.wait(30)
                opened = sum(c.hello.is_set() for c in streams)
                since = sql(url, "SELECT coalesce(max(id), 0) FROM webhook_events")[0][0]
                live = load.run(base, clients=args.clients, seconds=args.seconds,
                                rate_per_client=args.rate / args.clients, tag=f"live{n}-")
                time.sleep(1.5)  # the last frames on their way
                for client in streams:
                    client.close()
                if bare is None:
                    time.sleep(1)
                    bare = load.run(base, clients=args.clients, seconds=args.seconds,
                                    rate_per_client=args.rate / args.clients, tag=f"bare{n}-")
                lat = delivery_latencies(url, streams, since, f"live{n}-")
                events = sql(url, "SELECT count(*) FROM webhook_events WHERE id > %s AND payload::text LIKE %s",
                             (since, f'%live{n}-%'))[0][0]
                result = {"bare_rate": bare["rate"], "live_rate": live["rate"], "bare_p99": bare["p99_ms"],
                          "live_p99": live["p99_ms"], "opened": opened, "events": events,
                          "heard": len(lat), "p50": percentile(lat, 50), "p99": percentile(lat, 99),
                          "max": max(lat) if lat else float("nan")}
                rounds.append(result)
                print(f"  round {n + 1}: intake {result['bare_rate']:.0f}/s without streams (p99 {result['bare_p99']:.1f} ms), "
                      f"{result['live_rate']:.0f}/s with {opened} open (p99 {result['live_p99']:.1f} ms), "
                      f"ratio {result['live_rate'] / result['bare_rate']:.3f}; commit -> client over "
                      f"{result['heard']} (event, client) pairs of {events * opened}: p50 {result['p50']:.1f} ms, "
                      f"p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms", flush=True)
        finally:
            stop(web)
        ratio = statistics.median(r["live_rate"] / r["bare_rate"] for r in rounds)
        p50 = statistics.median(r["p50"] for r in rounds)
        p99 = max(r["p99"] for r in rounds)
        print(f"  median intake ratio with/without streams {ratio:.3f} (target within 5 %: "
              f"{'met' if ratio >= 0.95 else 'MISSED'}); commit -> client p50 {p50:.1f} ms "
              f"(target < 100 ms: {'met' if p50 < 100 else 'MISSED'}), worst round's p99 {p99:.1f} ms "
              f"(target < 1000 ms: {'met' if p99 < 1000 else 'MISSED'})", flush=True)
        return {"rounds": rounds, "ratio": ratio, "p50": p50, "p99": p99}
    finally:
        pg.close()


if __name__ == "__main__":
    main()
