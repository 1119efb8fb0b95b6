"""A small HTTP load generator: signed, unique webhook deliveries over keep-alive connections."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import multiprocessing
import time
from urllib.parse import urlsplit

SECRET = "bench-app-secret"


def delivery(tag: str, n: int) -> tuple[bytes, str]:
    """A one-message Instagram delivery (about 300 bytes) and its signature."""
    body = json.dumps({"object": "instagram", "entry": [{"id": "ig-bench", "time": 1700000000, "messaging": [
        {"sender": {"id": "c1"}, "recipient": {"id": "ig-bench"}, "timestamp": 1700000000000 + n,
         "message": {"mid": f"mid.{tag}.{n}", "text": f"hello {n}"}}]}]}).encode()
    return body, "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def _client(url: str, tag: str, seconds: float, rate: float | None, queue) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    latencies, statuses, n = [], {}, 0
    started = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now - started >= seconds:
            break
        if rate:  # a steady pace: request n is due at n / rate
            due = started + n / rate
            if due > now:
                time.sleep(due - now)
        body, signature = delivery(tag, n)
        sent = time.perf_counter()
        conn.request("POST", "/webhook", body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - sent)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        n += 1
    queue.put((latencies, statuses, time.perf_counter() - started))


def run(url: str, *, clients: int, seconds: float, rate_per_client: float | None = None, tag: str = "x") -> dict:
    """Send from `clients` processes for `seconds`; return requests/s, p50/p99 latency (ms), statuses."""
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_client, args=(url, f"{tag}{i}", seconds, rate_per_client, queue))
             for i in range(clients)]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    latencies = sorted(l for r in results for l in r[0])
    statuses: dict[int, int] = {}
    for r in results:
        for status, count in r[1].items():
            statuses[status] = statuses.get(status, 0) + count
    elapsed = max(r[2] for r in results)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))] * 1000

    return {"requests": len(latencies), "rate": len(latencies) / elapsed, "p50_ms": pct(50), "p99_ms": pct(99),
            "statuses": statuses}
