"""Benchmark (issue 16): 10,000 WhatsApp template replies to one business phone number, sandbox limit 80/s.

    python -m bench.send [--messages 10000] [--per-second 80] [--latency-samples 100] [--clients 8]
        [--sender-workers 4]

Everything runs as `make run` runs it, over real HTTP: PostgreSQL (embedded, or BENCH_DATABASE_URL's
server), the sandbox under gunicorn (one gthread worker: its world lives in one process; bench/send_sandbox.py),
the app under gunicorn (deployment/gunicorn.conf.py), `jobs.process_webhooks --follow` and
`jobs.send_messages --follow`. A user registers, connects WhatsApp through the sandbox's consent page, syncs
the templates, and a customer writes once (a signed sample webhook), which makes the conversation.

1. Throughput: `--messages` template POSTs to that conversation, queued by `--clients` threads while no
   sender runs; then the sender starts. The reference is the floor the limit sets: messages / per-second
   (125 s for 10,000 at 80/s). Printed: time from the sender's start (and from its first `sent`) to the
   last `sent` and to the last `read`, each as a ratio of the floor (target: within 5 %); the sandbox's
   130429 answers (target 0); messages `read` (target all); the most sends the sandbox accepted for one
   message (at most once: 1). Queueing first keeps the POSTs' own speed (measured apart) out of the figure.
   Beside it, in the same run, the reference: the same number of sends by a bare loop (as many threads,
   each taking a pace slot and POSTing to the sandbox, nothing else): what the machine itself allows.
2. Latency: POSTs one at a time with nothing queued ahead: POST -> `sent` p50 / p99 (target p99 < 100 ms),
   and the POST's own answer time beside it.

Benchmark-only instrumentation: a trigger notes the wall clock of each outbound status change. The app's
per-user API limit (1,000 / 15 min) is raised for the run: the load is 10,000 POSTs by one user.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from bench.common import Postgres, machine, median, percentile, sql  # noqa: E402
from bench.intake import app_env, stop  # noqa: E402
from tests.support.live import AuthActions, Browser, consent, free_port, wait_for_http  # noqa: E402
from webhook_app.sandbox import sandbox_env  # noqa: E402

INSTRUMENT = """
CREATE TABLE bench_outbound_times (outbound_id bigint, status text, at timestamptz NOT NULL,
                                   PRIMARY KEY (outbound_id, status));
CREATE FUNCTION bench_outbound_times() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_outbound_times VALUES (NEW.id, NEW.status, clock_timestamp()) ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER bench_outbound_times AFTER UPDATE OF status ON outbound_messages FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION bench_outbound_times();
"""


class Stack:
    """The sandbox, the app, the processor and the sender, each its own process, wired to each other."""

    def __init__(self, url: str, per_second: float, sender_workers: int, quiet: bool = True):
        self.sandbox_url = f"http://127.0.0.1:{free_port()}"
        app_port = free_port()
        self.app_url = f"http://127.0.0.1:{app_port}"
        out = subprocess.DEVNULL if quiet else None
        self.env = app_env(url)
        self.env.update(sandbox_env(self.sandbox_url), PUBLIC_BASE_URL=self.app_url,
                        RATELIMIT_API_USER="1000000 per 15 minutes",
                        WHATSAPP_MESSAGES_PER_SECOND=str(per_second), LOG_LEVEL="WARNING")
        sandbox_env_vars = dict(self.env, IC_BENCH_WEBHOOK_URL=f"{self.app_url}/webhook",
                                IC_BENCH_SECRET=load.SECRET)
        self.procs: list[subprocess.Popen] = []
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", self.sandbox_url.removeprefix("http://"), "--workers", "1",
             "--worker-class", "gthread", "--threads", "32", "--keep-alive", "30", "--log-level", "warning",
             "bench.send_sandbox:app"], cwd=ROOT, env=sandbox_env_vars, stdout=out, stderr=out))
        wait_for_http(self.sandbox_url + "/_sandbox/api/counters", proc=self.procs[-1])
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "deployment" / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{app_port}", "app:app"], cwd=ROOT, env=self.env, stdout=out, stderr=out))
        wait_for_http(self.app_url + "/healthz", proc=self.procs[-1])
        self.out, self.sender_workers = out, sender_workers
        self.start(["jobs.process_webhooks", "--follow"])

    def start(self, job: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", *job], cwd=ROOT, env=self.env, stdout=self.out,
                                stderr=self.out)
        self.procs.append(proc)
        return proc

    def start_sender(self) -> subprocess.Popen:
        return self.start(["jobs.send_messages", "--follow", "--workers", str(self.sender_workers)])

    def sandbox(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        body = {} if body is None and method == "POST" else body
        answer = requests.request(method, f"{self.sandbox_url}/_sandbox/api/{path}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                stop(proc)


def wait_until(check, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def prepare(stack: Stack, url: str) -> tuple[Browser, int, dict]:
    """A user with WhatsApp connected, templates synced, and a conversation a customer started."""
    browser = Browser(stack.app_url)
    assert AuthActions(browser).register().status_code == 302
    assert consent(browser, "/connect/whatsapp").status_code == 302
    synced = browser.api("POST", "/api/templates/sync")
    assert synced.status_code == 200, synced.text
    sent = stack.sandbox("webhooks", {"kind": "whatsapp_message", "text": "Hello, where is my order?"})
    assert sent["status"] == 200, sent

    def conversation():
        found = browser.api("GET", "/api/conversations", params={"channel": "whatsapp"}).json()
        return found["conversations"][0]["id"] if found.get("conversations") else None

    conversation_id = wait_until(conversation, 60, "the customer's conversation")
    templates = browser.api("GET", f"/api/conversations/{conversation_id}/templates").json()["templates"]
    template = next(t for t in templates if t["variables"] == 2)
    return browser, conversation_id, template


def post_template(browser: Browser, conversation_id: int, template: dict, n: int) -> int:
    body = {"template": {"name": template["name"], "language": template["language"],
                         "variables": [f"Customer {n}", f"#{10_000 + n}"]}}
    answer = browser.api("POST", f"/api/conversations/{conversation_id}/messages", json=body,
                         headers={"Idempotency-Key": f"bench-{n}"}, timeout=60)
    if answer.status_code != 202:
        raise RuntimeError(f"POST answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()["message"]["id"]


def statuses(url: str) -> dict[str, int]:
    return dict(sql(url, "SELECT status, count(*) FROM outbound_messages GROUP BY status"))


def throughput(stack: Stack, url: str, browser: Browser, conversation_id: int, template: dict, args) -> dict:
    clones = []
    for _ in range(args.clients):
        clone = Browser(stack.app_url)
        clone.http.cookies.update(browser.http.cookies)
        clone.csrf_token = browser._token()
        clones.append(clone)
    local = threading.local()
    counter = iter(range(args.messages))
    lock = threading.Lock()

    def one(_):
        if not hasattr(local, "browser"):
            with lock:
                local.browser = clones.pop()
        with lock:
            n = next(counter)
        return post_template(local.browser, conversation_id, template, n)

    began = time.time()
    with ThreadPoolExecutor(args.clients) as pool:
        ids = list(pool.map(one, range(args.messages)))
    queued_s = time.time() - began
    print(f"  queued {len(ids):,} POSTs in {queued_s:.1f} s ({len(ids) / queued_s:,.0f}/s), no sender running",
          flush=True)
    floor = args.messages / args.per_second
    started = time.time()
    stack.start_sender()
    last_report = [time.monotonic()]

    def done():
        counts = statuses(url)
        if time.monotonic() - last_report[0] > 10:
            last_report[0] = time.monotonic()
            print(f"  {time.time() - started:5.0f} s: {counts}", flush=True)
        settled = counts.get("read", 0) + counts.get("failed", 0) + counts.get("unknown", 0)
        return settled >= args.messages and counts
    final = wait_until(done, floor * 3 + 120, "every message read", every=0.5)
    times = dict(sql(url, "SELECT status, extract(epoch FROM max(at)) FROM bench_outbound_times "
                          "WHERE outbound_id = ANY(%s) GROUP BY status", (ids,)))
    first_sent = float(sql(url, "SELECT extract(epoch FROM min(at)) FROM bench_outbound_times "
                                "WHERE outbound_id = ANY(%s) AND status = 'sent'", (ids,))[0][0])
    messaging = stack.sandbox("messaging", method="GET")
    counts = stack.sandbox("messaging/counts", method="GET")["counts"]
    sends = requests.get(f"{stack.sandbox_url}/_sandbox/api/messaging/sends", params={"limit": 50_000},
                         timeout=60).json()["sends"]
    inside = [(s["answered_at"] - s["received_at"]) * 1000 for s in sends if s["answered_at"]]
    return {"floor": floor, "to_sent": float(times["sent"]) - started, "to_read": float(times["read"]) - started,
            "first_sent": first_sent - started, "sent_span": float(times["sent"]) - first_sent,
            "statuses": final, "refused": messaging["refused"], "accepted": messaging["accepted"],
            "most_sends": max((counts.get(str(i), 0) for i in ids), default=0), "queued_s": queued_s,
            "sandbox_ms": {"p50": median(inside), "p99": percentile(inside, 99)}}


def reference(stack: Stack, url: str, n: int, per_second: float, threads: int) -> dict:
    """The same sends by a bare loop: `threads` threads taking a pace slot (webhook_app.pacing) and POSTing the
    template to the sandbox, nothing else (no claim, no state, no webhooks). What this machine allows."""
    from webhook_app import pacing
    from webhook_app.db import Database

    world = stack.sandbox("state", method="GET")
    phone = world["wabas"][0]["phone_numbers"][0]
    token = stack.sandbox("tokens/issue", {"kind": "user_long", "subject": world["meta_users"][0]["id"],
                                           "scopes": "whatsapp_business_messaging"})["access_token"]
    stack.sandbox("messaging/statuses", {"enabled": False})
    db = Database(url, maxconn=threads + 1, application_name="bench-send-reference")
    left = iter(range(n))
    lock = threading.Lock()
    codes: list[int] = []

    def loop():
        http = requests.Session()
        while True:
            with lock:
                if next(left, None) is None:
                    return
            wait = pacing.reserve(db, f"reference:{phone}", per_second)
            if wait > 0:
                time.sleep(wait)
            answer = http.post(f"{stack.sandbox_url}/graph/v26.0/{phone}/messages", timeout=30, headers={
                "Authorization": f"Bearer {token}"}, json={
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678",
                "type": "template", "template": {"name": "sandbox_template_1", "language": {"code": "en_US"},
                                                 "components": [{"type": "body", "parameters": [
                                                     {"type": "text", "text": "Ada"},
                                                     {"type": "text", "text": "#1"}]}]}})
            with lock:
                codes.append(answer.status_code)

    started = time.monotonic()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.monotonic() - started
    db.close()
    stack.sandbox("messaging/reset")
    return {"seconds": seconds, "accepted": codes.count(200), "refused": len(codes) - codes.count(200)}


def latency(url: str, browser: Browser, conversation_id: int, template: dict, samples: int):
    """POST -> `sent` in ms, one message at a time (nothing queued ahead); and the POSTs' answer times."""
    out, answers = [], []
    for n in range(samples):
        started = time.time()
        outbound = post_template(browser, conversation_id, template, 1_000_000 + n)
        answers.append((time.time() - started) * 1000)

        def sent():
            rows = sql(url, "SELECT extract(epoch FROM at) FROM bench_outbound_times WHERE outbound_id = %s "
                            "AND status = 'sent'", (outbound,))
            return rows[0][0] if rows else None
        at = wait_until(sent, 30, f"message {outbound} sent", every=0.005)
        out.append((float(at) - started) * 1000)
        time.sleep(0.05)   # let its statuses come in before the next one
    return out, answers


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.send")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--per-second", type=float, default=80.0, help="the sandbox's limit and the app's setting")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8, help="threads POSTing the messages")
    parser.add_argument("--sender-workers", type=int, default=4, help="jobs.send_messages --workers")
    parser.add_argument("--verbose", action="store_true", help="show the processes' output")
    args = parser.parse_args(argv)
    pg = Postgres()
    stack = None
    try:
        url = pg.fresh(f"ic_bench_send_{os.getpid()}")
        sql(url, INSTRUMENT)
        print(f"send benchmark · {machine()} · PostgreSQL {pg.version()} · {args.messages:,} WhatsApp templates "
              f"to one phone number · limit {args.per_second:g}/s · sender --workers {args.sender_workers}",
              flush=True)
        stack = Stack(url, args.per_second, args.sender_workers, quiet=not args.verbose)
        browser, conversation_id, template = prepare(stack, url)
        phone = stack.sandbox("state", method="GET")["wabas"][0]["phone_numbers"][0]
        stack.sandbox("messaging/pace", {"per_second": args.per_second, "account": phone})
        ref = reference(stack, url, args.messages, args.per_second, args.sender_workers)
        floor = args.messages / args.per_second
        print(f"reference: a bare paced loop ({args.sender_workers} threads: pace slot + POST, nothing else) sent "
              f"{ref['accepted']:,} in {ref['seconds']:.1f} s ({ref['seconds'] / floor:.3f} × floor), "
              f"{ref['refused']} refused", flush=True)
        stack.sandbox("messaging/pace", {"per_second": args.per_second, "account": phone})
        result = throughput(stack, url, browser, conversation_id, template, args)
        floor = result["floor"]
        print(f"throughput: floor {floor:.1f} s · from the sender's start: last sent {result['to_sent']:.1f} s "
              f"({result['to_sent'] / floor:.3f} × floor), last read {result['to_read']:.1f} s "
              f"({result['to_read'] / floor:.3f} × floor; target ≤ 1.05) · first sent after "
              f"{result['first_sent']:.1f} s (start-up), first to last sent {result['sent_span']:.1f} s "
              f"({result['sent_span'] / floor:.3f} × floor)", flush=True)
        print(f"  outbound statuses {result['statuses']} · sandbox accepted {result['accepted']:,} · refused "
              f"{result['refused'] or 'none'} (130429: {result['refused'].get('130429', 0)}, target 0) · most sends "
              f"of one message {result['most_sends']} (target 1) · the sandbox's own time per send call p50 "
              f"{result['sandbox_ms']['p50']:.1f} ms, p99 {result['sandbox_ms']['p99']:.1f} ms", flush=True)
        lat, answers = latency(url, browser, conversation_id, template, args.latency_samples)
        result["latency_ms"] = {"p50": median(lat), "p99": percentile(lat, 99), "max": max(lat) if lat else None,
                                "post_p50": median(answers), "post_p99": percentile(answers, 99)}
        print(f"latency: POST -> sent, nothing queued ahead, {len(lat)} samples: p50 {median(lat):.1f} ms · "
              f"p99 {percentile(lat, 99):.1f} ms (target < 100 ms) · max {max(lat):.1f} ms · the POST's own "
              f"answer p50 {median(answers):.1f} ms, p99 {percentile(answers, 99):.1f} ms", flush=True)
        result["reference"] = ref
        return result
    finally:
        if stack is not None:
            stack.stop()
        pg.close()


if __name__ == "__main__":
    main()
