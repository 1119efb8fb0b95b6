"""The sandbox itself: refused in production, signed sample webhooks, its control API."""
from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.conftest import TEST_APP_SECRET
from tests.support.live import ROOT
from webhook_app.config import ConfigError, Settings
from webhook_app.sandbox import create_sandbox_app
from webhook_app.sandbox.samples import KINDS


@pytest.mark.slow
def test_refuses_to_start_in_production(tmp_path):
    with pytest.raises(ConfigError):
        create_sandbox_app(Settings(app_env="production", meta_app_secret="x"))
    env = {"PATH": "/usr/bin:/bin", "APP_ENV": "production", "DATABASE_URL": "postgresql://x/y",
           "META_APP_ID": "1", "SECRET_KEY": "s", "TOKEN_ENCRYPTION_KEYS": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
           "META_APP_SECRET": "s", "META_VERIFY_TOKEN": "v", "PUBLIC_BASE_URL": "https://example.com",
           "VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "webhook_app.sandbox"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "cannot run when APP_ENV=production" in done.stderr


def test_the_app_has_no_sandbox_routes(app):
    rules = [r.rule for r in app.url_map.iter_rules()]
    assert not any(r.startswith(("/_sandbox", "/graph", "/facebook", "/tiktok")) for r in rules)


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"EVENT_RECEIVED")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhook", _Receiver.received
    server.shutdown()


def test_sample_webhooks_are_signed_with_the_app_secret(sandbox, receiver):
    url, received = receiver
    sandbox.state.webhook_url = url
    objects = {}
    for kind in KINDS:
        answer = requests.post(sandbox.url + "/_sandbox/api/webhooks", json={"kind": kind}, timeout=10).json()
        assert answer["status"] == 200 and answer["answer"] == "EVENT_RECEIVED"
        objects[kind] = answer["payload"]["object"]
    assert len(received) == len(KINDS)
    for headers, body in received:
        expected = "sha256=" + hmac.new(TEST_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == expected
        payload = json.loads(body)
        assert payload["entry"] and payload["entry"][0]["id"]
    assert objects["instagram_comment"] == "instagram" and objects["page_feed"] == "page"
    assert objects["template_status"] == "whatsapp_business_account"
    # Each delivery is distinct, so an idempotent receiver stores every one.
    assert len({body for _, body in received}) == len(KINDS)


def test_control_api_and_page(sandbox):
    page = requests.get(sandbox.url + "/_sandbox/", timeout=10)
    assert page.status_code == 200 and "Send a signed sample webhook" in page.text
    waba_id = next(iter(sandbox.state.wabas))
    assert requests.post(sandbox.url + "/_sandbox/api/seed", json={"templates": 250}, timeout=10).json() == {
        "templates": 250}
    assert len(sandbox.state.wabas[waba_id].templates) == 253
    assert requests.post(sandbox.url + "/_sandbox/api/faults", json={"code": 4, "times": 2},
                         timeout=10).status_code == 200
    assert sandbox.state.faults[0].code == 4 and sandbox.state.faults[0].times == 2
    assert requests.post(sandbox.url + "/_sandbox/api/reset", json={}, timeout=10).status_code == 200
    assert sandbox.state.faults == [] and len(sandbox.state.pages) == 2
    summary = requests.get(sandbox.url + "/_sandbox/api/state", timeout=10).json()
    assert {p["name"] for p in summary["pages"]} == {"Sandbox Coffee House", "Sandbox Bakery"}
