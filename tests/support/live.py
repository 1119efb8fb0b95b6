"""Test helpers: a real-HTTP browser stand-in, a threaded live server, a gunicorn launcher."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The Flask app served over real HTTP from a thread of the test process."""

    def __init__(self, app, host: str = "127.0.0.1", request_handler=None):
        self.app = app
        self._server = make_server(host, 0, app, threaded=True, request_handler=request_handler)
        self.url = f"http://{host}:{self._server.server_port}"
        # shutdown() waits for the serving loop's next poll: at the default 0.5 s that was half a second
        # per server in every test's teardown.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def start(self) -> "LiveServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


class Browser:
    """A requests session that behaves like a user's browser: cookies, CSRF token, no redirects."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.csrf_token: str | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 15)
        response = self.http.get(self.url(path), **kw)
        found = _META_CSRF.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        if found:
            self.csrf_token = found.group(1)
        return response

    def _token(self) -> str:
        if self.csrf_token is None:
            self.get("/auth/login")
        if self.csrf_token is None:  # logged in: the login form redirects, the dashboard has the token
            self.get("/")
        return self.csrf_token or ""

    def post_form(self, path: str, data: dict | None = None, *, csrf: bool = True, **kw) -> requests.Response:
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self._token())
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 15)
        answer = self.http.post(self.url(path), data=data, **kw)
        if path.split("?")[0] in ("/auth/login", "/auth/register") and answer.status_code == 302:
            self.csrf_token = None  # a login rotates the CSRF token: the next page a browser loads has the new one
        return answer

    def api(self, method: str, path: str, *, csrf: bool = True, **kw) -> requests.Response:
        """A JSON call as the dashboard's script makes it (CSRF token in the header)."""
        headers = kw.pop("headers", {})
        if csrf and method.upper() not in ("GET", "HEAD"):
            headers.setdefault("X-CSRFToken", self._token())
        kw.setdefault("timeout", 15)
        kw.setdefault("allow_redirects", False)
        return self.http.request(method, self.url(path), headers=headers, **kw)

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("insta_session")


class AuthActions:
    """What a user does with the account forms."""

    def __init__(self, browser: Browser):
        self.browser = browser

    def register(self, email: str = "owner@example.com", password: str = "correct horse") -> requests.Response:
        self.browser.get("/auth/register")
        return self._started(self.browser.post_form("/auth/register", {"email": email, "password": password}))

    def login(self, email: str = "owner@example.com", password: str = "correct horse", next: str | None = None):
        self.browser.get("/auth/login")
        data = {"email": email, "password": password}
        if next is not None:
            data["next"] = next
        return self._started(self.browser.post_form("/auth/login", data))

    def _started(self, response: requests.Response) -> requests.Response:
        if response.status_code == 302:
            self.browser.csrf_token = None  # the CSRF token changes at login; the next page carries the new one
        return response

    def logout(self) -> requests.Response:
        self.browser.get("/")
        return self.browser.post_form("/auth/logout")


def wait_for_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # a worker still booting may not answer in 1 s
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def app_env(settings, **extra: str) -> dict[str, str]:
    """Environment variables that make a child process use the same settings as a test."""
    import base64

    env = {k: v for k, v in os.environ.items() if not k.startswith(("META_", "TIKTOK_", "RATELIMIT_"))}
    env.update(
        APP_ENV=settings.app_env,
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        TOKEN_ENCRYPTION_KEYS=",".join(base64.b64encode(k).decode() for k in settings.token_encryption_keys),
        META_APP_SECRET=settings.meta_app_secret,
        META_VERIFY_TOKEN=settings.meta_verify_token,
        BCRYPT_ROUNDS=str(settings.bcrypt_rounds),
        VAR_DIR=str(settings.var_dir),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Gunicorn:
    """`gunicorn app:app` in a subprocess, as production runs it."""

    def __init__(self, env: dict[str, str], workers: int = 2, log_path: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--config", str(ROOT / "deployment" / "gunicorn.conf.py"), "app:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_for_http(self.url + "/healthz", proc=self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()


def consent(browser: Browser, start_path: str, decision: str = "approve") -> requests.Response:
    """Click a Connect button, answer the sandbox's consent page, and follow the way back to the app.

    Returns the app's answer to its OAuth callback (normally a 302 to the dashboard).
    """
    start = browser.get(start_path)
    assert start.status_code == 302, start.text
    dialog = start.headers["Location"]
    page = browser.http.get(dialog, timeout=15)
    assert page.status_code == 200 and "Approve" in page.text, page.text
    answer = browser.http.post(dialog, data={"decision": decision}, allow_redirects=False, timeout=15)
    assert answer.status_code == 302, answer.text
    callback = answer.headers["Location"]
    assert callback.startswith(browser.base_url), callback
    return browser.get(callback[len(browser.base_url):])
