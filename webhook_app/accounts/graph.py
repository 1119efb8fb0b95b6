"""Clients for Meta's Graph API (Facebook, Instagram, WhatsApp) and TikTok's Login Kit v2.

Every failure becomes one of four exceptions, chosen by Meta's error code and subcode:
ReauthorizationRequired (the user must connect again), RateLimited (wait, retry later),
Transient (retried here with backoff, then raised), Permanent (a bug or a refused request).
Tokens travel in the Authorization header or a POST body; only method and path are logged.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterator

import requests
import urllib3

from webhook_app.exceptions import InstaConnectError

log = logging.getLogger(__name__)

# Graph API versions and the day each stops being served ("Expiration Date"; None: not announced yet), as
# Meta's changelog listed them: https://developers.facebook.com/docs/graph-api/changelog/versions/ (read
# 2026-12-01). One table for the whole service; add a row when Meta publishes a new version or date.
GRAPH_VERSION_CALENDAR: dict[str, date | None] = {
    "v17.0": date(2025, 9, 12),
    "v18.0": date(2026, 1, 26),
    "v19.0": date(2026, 5, 21),
    "v20.0": date(2026, 9, 24),
    "v21.0": date(2027, 1, 21),
    "v22.0": date(2027, 5, 20),
    "v23.0": date(2027, 10, 8),
    "v24.0": date(2028, 2, 18),
    "v25.0": date(2028, 7, 29),
    "v26.0": None,              # released 2026-07-29, the newest; end of life to be announced
}
GRAPH_CALENDAR_SOURCE = "https://developers.facebook.com/docs/graph-api/changelog/versions/"
GRAPH_CALENDAR_CHECKED = date(2026, 12, 1)
VERSION_WARNING_DAYS = 90


def version_status(version: str, today: date) -> dict:
    """Where the configured Graph API version stands on Meta's calendar, with a warning from 90 days before its end."""
    known = version in GRAPH_VERSION_CALENDAR
    ends = GRAPH_VERSION_CALENDAR.get(version)
    newest = max(GRAPH_VERSION_CALENDAR, key=lambda v: tuple(int(p) for p in v[1:].split(".")))
    days_left = (ends - today).days if ends else None
    warning = None
    if not known:
        warning = (f"Graph API {version} is not in this service's calendar of Meta's versions (checked "
                   f"{GRAPH_CALENDAR_CHECKED.isoformat()}); check {GRAPH_CALENDAR_SOURCE} and set META_GRAPH_VERSION "
                   f"to a version Meta still serves ({newest} is the newest known).")
    elif days_left is not None and days_left < 0:
        warning = (f"Graph API {version} reached its end of life on {ends.isoformat()}: Meta now answers with a "
                   f"newer version. Set META_GRAPH_VERSION to {newest}.")
    elif days_left is not None and days_left <= VERSION_WARNING_DAYS:
        warning = (f"Graph API {version} stops working on {ends.isoformat()} ({days_left} days from now). "
                   f"Set META_GRAPH_VERSION to {newest} before then.")
    return {"version": version, "known": known, "end_of_life": ends.isoformat() if ends else None,
            "days_left": days_left, "warning": warning, "newest": newest, "source": GRAPH_CALENDAR_SOURCE,
            "calendar_checked": GRAPH_CALENDAR_CHECKED.isoformat()}


def warn_if_version_ending(version: str, today: date) -> dict:
    """version_status, and the warning in the log when there is one (at start-up, and by the daily refresh job)."""
    status = version_status(version, today)
    if status["warning"]:
        log.warning("%s", status["warning"])
    return status

# Meta error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling).
REAUTH_CODES = {190, 102, 10} | set(range(200, 300))
RATE_LIMIT_CODES = {4, 17, 32, 341, 613} | set(range(80001, 80015))
TRANSIENT_CODES = {1, 2}


class GraphError(InstaConnectError):
    """A call to Meta or TikTok failed; the message is Meta's own text, never a token."""

    def __init__(self, message: str, *, code: int | str | None = None, subcode: int | None = None,
                 error_type: str | None = None, fbtrace_id: str | None = None, status: int | None = None,
                 path: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.fbtrace_id = fbtrace_id
        self.status = status
        self.path = path

    def __str__(self) -> str:
        detail = f" (code {self.code}" + (f", subcode {self.subcode}" if self.subcode else "") + ")" \
            if self.code is not None else ""
        return f"{self.message}{detail}"


class ReauthorizationRequired(GraphError):
    """The token is expired, revoked or lacks a permission: the user must connect again."""


class RateLimited(GraphError):
    """Meta or TikTok is throttling us; try again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Transient(GraphError):
    """A temporary failure (timeout, 5xx, codes 1 and 2) that outlived our retries."""


class Permanent(GraphError):
    """Meta refused the request for good (bad parameter, unknown object, ...)."""


class OutcomeUnknown(GraphError):
    """A send got no answer (read timeout, connection dropped after the request went out): Meta may have it."""


def classify(status: int, error: dict) -> type[GraphError]:
    """Which exception a Meta error body `{"error": {...}}` means."""
    code = error.get("code")
    subcode = error.get("error_subcode")
    if code in REAUTH_CODES or error.get("type") == "OAuthException" and code in (None, 190):
        return ReauthorizationRequired
    if code in RATE_LIMIT_CODES:
        return RateLimited
    if code in TRANSIENT_CODES or error.get("is_transient") or status >= 500:
        return Transient
    if subcode in (458, 459, 460, 463, 464, 467, 492):
        return ReauthorizationRequired
    return Permanent


@dataclass
class Usage:
    """The highest percentage Meta reports in X-App-Usage / X-Business-Use-Case-Usage."""

    percent: float = 0.0
    regain_seconds: float = 0.0
    raw: dict = field(default_factory=dict)


def parse_usage(headers) -> Usage:
    usage = Usage()
    for name in ("X-App-Usage", "X-Business-Use-Case-Usage", "X-Ad-Account-Usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        usage.raw[name] = data
        buckets = [data] if name != "X-Business-Use-Case-Usage" else [
            b for entries in data.values() if isinstance(entries, list) for b in entries]
        for bucket in buckets:
            if not isinstance(bucket, dict):
                continue
            for key in ("call_count", "total_cputime", "total_time"):
                value = bucket.get(key)
                if isinstance(value, (int, float)):
                    usage.percent = max(usage.percent, float(value))
            regain = bucket.get("estimated_time_to_regain_access")
            if isinstance(regain, (int, float)):
                usage.regain_seconds = max(usage.regain_seconds, float(regain) * 60)
    return usage


def _session(base_url: str) -> requests.Session:
    """A session that reads proxies and the CA bundle from the environment once, at creation.

    requests otherwise looks up the proxy variables and ~/.netrc again for every call, a large share of
    the client's CPU per call in the token refresh benchmark's profile; ~/.netrc never applies to Meta or
    TikTok, whose tokens travel in headers and bodies.
    """
    session = requests.Session()
    settled = session.merge_environment_settings(base_url, {}, None, None, None)  # requests' own reading
    session.proxies.update(settled["proxies"])
    session.verify = settled["verify"]
    session.trust_env = False
    return session


class _Http:
    """What the Meta and TikTok clients share: a session, timeouts, retries, backoff."""

    def __init__(self, base_url: str, *, timeout: float | tuple[float, float] = (5.0, 20.0),
                 max_retries: int = 2, backoff: float = 0.5, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.session = session or _session(self.base_url)
        self.sleep = sleep

    def _send(self, method: str, path: str, *, headers: dict, params: dict | None, data: dict | None,
              error_from: Callable[[requests.Response, str], GraphError | None]) -> requests.Response:
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = self.session.request(method, url, params=params, data=data, headers=headers,
                                                timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                failure: GraphError = Transient(f"{exc.__class__.__name__} calling {path}", path=path)
                response = None
            else:
                failure = error_from(response, path)
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.0fms", method, path, response.status_code if response is not None else "-",
                     elapsed)
            if failure is None:
                return response
            if isinstance(failure, Transient) and attempt < self.max_retries:
                attempt += 1
                # Exponential backoff with jitter, so many workers do not retry in step.
                self.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))
                continue
            raise failure


class GraphClient(_Http):
    """Meta's Graph API at `base_url/version/...` (graph.facebook.com or graph.instagram.com)."""

    def __init__(self, base_url: str, version: str, *, app_id: str = "", app_secret: str = "",
                 slow_down_at: float = 80.0, max_slowdown: float = 10.0, **kw):
        super().__init__(base_url, **kw)
        self.version = version
        self.app_id = app_id
        self.app_secret = app_secret
        self.slow_down_at = slow_down_at
        self.max_slowdown = max_slowdown
        self.last_usage = Usage()

    @property
    def app_token(self) -> str:
        """The app access token `app_id|app_secret`, for debug_token."""
        return f"{self.app_id}|{self.app_secret}"

    def _path(self, path: str) -> str:
        path = path if path.startswith("/") else "/" + path
        return f"/{self.version}{path}" if self.version else path

    def _headers(self, token: str | None) -> dict:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _proof(self, token: str | None) -> dict:
        # appsecret_proof ties a token to our app secret, as Meta recommends for server calls.
        if not token or not self.app_secret or "|" in token:
            return {}
        return {"appsecret_proof": hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()}

    def _error(self, response: requests.Response, path: str) -> GraphError | None:
        self._note_usage(response)
        if response.status_code < 400:
            try:
                body = response.json()
            except ValueError:
                return Transient(f"{path} answered {response.status_code} with a body that is not JSON",
                                 status=response.status_code, path=path)
            if not (isinstance(body, dict) and "error" in body):
                return None
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        if not isinstance(error, dict):
            error = {"message": str(error)}
        kind = classify(response.status_code, error)
        kw = dict(code=error.get("code"), subcode=error.get("error_subcode"), error_type=error.get("type"),
                  fbtrace_id=error.get("fbtrace_id"), status=response.status_code, path=path)
        message = error.get("message") or f"{path} answered HTTP {response.status_code}"
        if kind is RateLimited:
            retry = self.last_usage.regain_seconds or _retry_after(response) or 60.0
            return RateLimited(message, retry_after=retry, **kw)
        return kind(message, **kw)

    def _note_usage(self, response: requests.Response) -> None:
        usage = parse_usage(response.headers)
        if not usage.raw:
            return
        self.last_usage = usage
        if usage.percent >= self.slow_down_at:
            # Spread the remaining calls out before Meta starts refusing them.
            pause = min(self.max_slowdown,
                        self.max_slowdown * (usage.percent - self.slow_down_at) / max(1.0, 100 - self.slow_down_at))
            log.warning("Graph usage at %.0f%%; pausing %.1fs", usage.percent, pause)
            if pause > 0:
                self.sleep(pause)

    def request(self, method: str, path: str, *, token: str | None = None, params: dict | None = None,
                data: dict | None = None) -> dict:
        """One Graph call; returns the JSON body or raises a GraphError subclass."""
        params = dict(params or {})
        if method == "GET" or method == "DELETE":
            params.update(self._proof(token))
        else:
            data = {**(data or {}), **self._proof(token)}
        response = self._send(method, self._path(path), headers=self._headers(token), params=params or None,
                              data=data, error_from=self._error)
        return response.json()

    def get(self, path: str, token: str | None = None, **params) -> dict:
        return self.request("GET", path, token=token, params=params)

    def post(self, path: str, token: str | None = None, **data) -> dict:
        return self.request("POST", path, token=token, data=data)

    def delete(self, path: str, token: str | None = None, **params) -> dict:
        return self.request("DELETE", path, token=token, params=params)

    def send(self, path: str, token: str, body: dict) -> dict:
        """One send call (SPEC 16): a JSON POST never repeated by the client, so a message goes out at most once.

        No answer after the request may have left (a read timeout, a dropped connection) is OutcomeUnknown; a
        connection that never opened is Transient (nothing was sent); Meta's refusals are as for `request`.
        """
        path = self._path(path)
        headers = {**self._headers(token), "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            response = self.session.post(f"{self.base_url}{path}", params=self._proof(token) or None,
                                         data=json.dumps(body, ensure_ascii=False).encode(), headers=headers,
                                         timeout=self.timeout)
        except requests.ConnectTimeout as exc:
            raise Transient(f"{exc.__class__.__name__} connecting for {path}", path=path) from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            if isinstance(reason, urllib3.exceptions.NewConnectionError):
                raise Transient(f"could not connect for {path}", path=path) from None
            raise OutcomeUnknown(f"no answer from {path} ({exc.__class__.__name__})", path=path) from None
        log.info("POST %s %s %.0fms", path, response.status_code, (time.perf_counter() - started) * 1000)
        failure = self._error(response, path)
        if failure is not None:
            raise failure
        return response.json()

    def paginate(self, path: str, token: str | None = None, *, max_pages: int = 1000, **params) -> Iterator[dict]:
        """Every item of a list edge, following `paging.cursors.after` while `paging.next` is there."""
        params = dict(params)
        for _ in range(max_pages):
            body = self.get(path, token, **params)
            yield from body.get("data", [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            # Follow the cursor rather than the `next` URL: that URL repeats the token in its query.
            params["after"] = after

    # The OAuth steps of Facebook Login (the app secret travels in the POST body).
    def exchange_code(self, code: str, redirect_uri: str) -> dict:
        """Authorization code -> short-lived user token."""
        return self.post("/oauth/access_token", client_id=self.app_id, client_secret=self.app_secret,
                         redirect_uri=redirect_uri, code=code)

    def long_lived_token(self, short_lived: str) -> dict:
        """Short-lived user token -> long-lived (about 60 days) with `fb_exchange_token`."""
        return self.post("/oauth/access_token", grant_type="fb_exchange_token", client_id=self.app_id,
                         client_secret=self.app_secret, fb_exchange_token=short_lived)

    def debug_token(self, input_token: str) -> dict:
        """Meta's view of a token: is_valid, expires_at, scopes, granular_scopes (the `data` object)."""
        # POST with method=GET (as Meta's SDKs do for long queries) keeps the token out of the URL.
        return self.post("/debug_token", self.app_token, method="GET", input_token=input_token).get("data", {})


class InstagramClient(GraphClient):
    """graph.instagram.com: Instagram Login tokens, their refresh, account fields and media."""

    def long_lived_token(self, short_lived: str) -> dict:
        """`ig_exchange_token`: a short-lived (1 hour) Instagram Login token -> a long-lived one (60 days)."""
        return self.get("/access_token", short_lived, grant_type="ig_exchange_token", client_secret=self.app_secret)

    def refresh_token(self, token: str) -> dict:
        """A fresh long-lived token (60 days) for one at least 24 hours old and not expired."""
        return self.get("/refresh_access_token", token, grant_type="ig_refresh_token")

    def send_text(self, token: str, recipient_id: str, text: str) -> dict:
        """The Instagram Login send API (`POST /me/messages`): a text reply; answers recipient_id and message_id."""
        return self.post("/me/messages", token, recipient=json.dumps({"id": recipient_id}),
                         message=json.dumps({"text": text}))


class InstagramLoginClient(_Http):
    """api.instagram.com: Instagram Login's code exchange (its errors come in the old Instagram shape too)."""

    def __init__(self, base_url: str, app_id: str, app_secret: str, **kw):
        super().__init__(base_url, **kw)
        self.app_id = app_id
        self.app_secret = app_secret

    def _error(self, response: requests.Response, path: str) -> GraphError | None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code < 400 and isinstance(body, dict) and "error" not in body \
                and "error_message" not in body:
            return None
        if not isinstance(body, dict):
            kind = Transient if response.status_code >= 500 or response.status_code < 400 else Permanent
            return kind(f"{path} answered HTTP {response.status_code}", status=response.status_code, path=path)
        # {"error": {"message", "type", "code"}} or {"error_type", "code", "error_message"}.
        error = body["error"] if isinstance(body.get("error"), dict) else {
            "message": body.get("error_message"), "type": body.get("error_type"), "code": body.get("code")}
        message = error.get("message") or f"{path} answered HTTP {response.status_code}"
        code = error.get("code")
        if response.status_code >= 500 or code in TRANSIENT_CODES:
            return Transient(message, code=code, status=response.status_code, path=path)
        if code in RATE_LIMIT_CODES or response.status_code == 429:
            return RateLimited(message, code=code, retry_after=_retry_after(response) or 60.0,
                               status=response.status_code, path=path)
        # A refused code (used, expired, wrong redirect_uri) cannot be retried: the user starts again.
        return Permanent(message, code=code, error_type=error.get("type"), status=response.status_code, path=path)

    def exchange_code(self, code: str, redirect_uri: str) -> dict:
        """Code -> short-lived token: {"access_token", "user_id", "permissions"} (either documented shape)."""
        body = self._send("POST", "/oauth/access_token", headers={}, params=None,
                          data={"client_id": self.app_id, "client_secret": self.app_secret,
                                "grant_type": "authorization_code", "redirect_uri": redirect_uri,
                                # Meta appends "#_" to the redirect; it is not part of the code.
                                "code": code.removesuffix("#_")},
                          error_from=self._error).json()
        found = body["data"][0] if isinstance(body.get("data"), list) and body["data"] else body
        if not found.get("access_token"):
            raise Permanent("Instagram answered the code exchange without an access token", path="/oauth/access_token")
        permissions = found.get("permissions") or ""
        if isinstance(permissions, str):
            permissions = [p for p in permissions.split(",") if p]
        return {"access_token": found["access_token"], "user_id": str(found.get("user_id") or ""),
                "permissions": list(permissions)}


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


class TikTokClient(_Http):
    """TikTok Login Kit v2: `/v2/oauth/token/` and `/v2/user/info/`."""

    USER_FIELDS = "open_id,union_id,avatar_url,display_name,follower_count,following_count,likes_count,video_count"

    def __init__(self, base_url: str, client_key: str, client_secret: str, **kw):
        super().__init__(base_url, **kw)
        self.client_key = client_key
        self.client_secret = client_secret

    def _error(self, response: requests.Response, path: str) -> GraphError | None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if response.status_code >= 500 or response.status_code < 400:
                return Transient(f"{path} answered {response.status_code} without JSON",
                                 status=response.status_code, path=path)
            return Permanent(f"{path} answered HTTP {response.status_code}", status=response.status_code, path=path)
        kw = dict(status=response.status_code, path=path)
        # The token endpoint answers {"error": "invalid_grant", "error_description": ...}.
        if isinstance(body.get("error"), str):
            code = body["error"]
            message = body.get("error_description") or code
            if code in ("invalid_grant", "invalid_token", "access_denied"):
                return ReauthorizationRequired(message, code=code, **kw)
            if code in ("rate_limit_exceeded",) or response.status_code == 429:
                return RateLimited(message, code=code, retry_after=_retry_after(response) or 60.0, **kw)
            if response.status_code >= 500 or code in ("server_error", "temporarily_unavailable"):
                return Transient(message, code=code, **kw)
            return Permanent(message, code=code, **kw)
        # The other endpoints answer {"data": ..., "error": {"code": "ok" | ..., "message", "log_id"}}.
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = error.get("code", "ok")
        if code == "ok" and response.status_code < 400:
            return None
        message = error.get("message") or f"{path} answered HTTP {response.status_code}"
        if code in ("access_token_invalid", "scope_not_authorized", "scope_permission_missed") \
                or response.status_code == 401:
            return ReauthorizationRequired(message, code=code, **kw)
        if code == "rate_limit_exceeded" or response.status_code == 429:
            return RateLimited(message, code=code, retry_after=_retry_after(response) or 60.0, **kw)
        if response.status_code >= 500 or code == "internal_error":
            return Transient(message, code=code, **kw)
        return Permanent(message, code=code, **kw)

    def _token_call(self, **data) -> dict:
        data.update(client_key=self.client_key, client_secret=self.client_secret)
        return self._send("POST", "/v2/oauth/token/", headers={"Content-Type": "application/x-www-form-urlencoded"},
                          params=None, data=data, error_from=self._error).json()

    def exchange_code(self, code: str, redirect_uri: str) -> dict:
        return self._token_call(code=code, grant_type="authorization_code", redirect_uri=redirect_uri)

    def refresh(self, refresh_token: str) -> dict:
        """A new access token (2 hours) and a new refresh token (180 days) that voids this one: store both at once."""
        return self._token_call(grant_type="refresh_token", refresh_token=refresh_token)

    def revoke(self, access_token: str) -> None:
        """Tell TikTok the user disconnected; the access and refresh tokens stop working."""
        self._send("POST", "/v2/oauth/revoke/", headers={}, params=None,
                   data={"client_key": self.client_key, "client_secret": self.client_secret, "token": access_token},
                   error_from=self._error)

    def user_info(self, access_token: str, fields: str = USER_FIELDS) -> dict:
        response = self._send("GET", "/v2/user/info/", headers={"Authorization": f"Bearer {access_token}"},
                              params={"fields": fields}, data=None, error_from=self._error)
        return (response.json().get("data") or {}).get("user") or {}


def meta_client(settings, **kw) -> GraphClient:
    return GraphClient(settings.meta_graph_url, settings.meta_graph_version, app_id=settings.meta_client_id,
                       app_secret=settings.current_meta_app_secret, **kw)


def instagram_client(settings, **kw) -> InstagramClient:
    return InstagramClient(settings.instagram_graph_url, settings.meta_graph_version, app_id=settings.meta_client_id,
                           app_secret=settings.current_meta_app_secret, **kw)


def instagram_login_client(settings, **kw) -> InstagramLoginClient:
    return InstagramLoginClient(settings.instagram_api_url, settings.meta_client_id, settings.meta_app_secret, **kw)


def tiktok_client(settings, **kw) -> TikTokClient:
    return TikTokClient(settings.tiktok_api_url, settings.tiktok_key, settings.tiktok_secret, **kw)
