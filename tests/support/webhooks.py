"""Test helpers for webhooks: signed deliveries, Meta-shaped payloads, owners, the processor."""
from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.live import ROOT, app_env

SECRET = "test-app-secret"  # the `settings` fixture's META_APP_SECRET


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(base_url: str, payload, *, path: str = "/webhook", secret: str = SECRET,
            session: requests.Session | None = None) -> requests.Response:
    """POST a payload (dict or raw bytes) signed as Meta signs it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    http = session or requests
    return http.post(base_url + path, data=body, timeout=15,
                     headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)})


def ig_messages(account_id: str, mids: list[str], text: str = "hello") -> dict:
    """An Instagram delivery with one entry per message id."""
    return {"object": "instagram", "entry": [
        {"id": account_id, "time": 1700000000, "messaging": [
            {"sender": {"id": "customer-1"}, "recipient": {"id": account_id}, "timestamp": 1700000000123,
             "message": {"mid": mid, "text": text}}]}
        for mid in mids]}


def add_owner(sql, email: str, account_id: str, kind: str = "instagram") -> int:
    """A user who has connected the Meta account account_id (as the connect flow leaves it)."""
    user_id = sql("INSERT INTO users (email, password_hash) VALUES (%s, 'x') RETURNING id", (email,))[0][0]
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES (%s, %s, %s)", (account_id, user_id, kind))
    return user_id


def status_counts(sql) -> dict[str, int]:
    return dict(sql("SELECT status, count(*) FROM webhook_events GROUP BY status"))


def wait_until(check, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def start_processor(settings, *args: str, log_path: Path | None = None, **env: str) -> subprocess.Popen:
    """`python -m jobs.process_webhooks ARGS` as its own process, with the test's settings."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "jobs.process_webhooks", *args], cwd=ROOT,
                            env=app_env(settings, **env), stdout=out, stderr=subprocess.STDOUT)
