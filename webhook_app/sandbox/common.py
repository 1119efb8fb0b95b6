"""What every imitated API shares: the state, tokens from headers, faults, latency, usage, paging."""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from flask import current_app, jsonify, request

from webhook_app.sandbox.state import META_FAULTS, Fault, SandboxError, SandboxState, meta_error


def state() -> SandboxState:
    return current_app.extensions["sandbox"]


def param(name: str, default: str | None = None) -> str | None:
    """A parameter from the query string or the form body, as Meta reads both."""
    return request.values.get(name, default)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    for scheme in ("Bearer ", "OAuth "):
        if header.startswith(scheme):
            return header[len(scheme):].strip()
    return param("access_token")


def check_proof(token: str) -> None:
    """Meta refuses a wrong appsecret_proof; a missing one is accepted (the app setting is off)."""
    proof = param("appsecret_proof")
    if proof is None:
        return
    expected = hmac.new(state().app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(proof, expected):
        raise meta_error(400, "Invalid appsecret_proof provided in the API argument", 100)


def _usage_headers(percent: float, subject: str | None, regain_minutes: int = 0) -> dict:
    usage = {"call_count": int(percent), "total_cputime": int(percent * 0.6), "total_time": int(percent * 0.7)}
    headers = {"X-App-Usage": json.dumps(usage)}
    if subject:
        headers["X-Business-Use-Case-Usage"] = json.dumps(
            {subject: [{"type": "pages", **usage, "estimated_time_to_regain_access": regain_minutes}]})
    return headers


def fault_error(api: str, code: int, subcode: int | None) -> SandboxError:
    if api == "tiktok":
        if code in (4, 17, 32, 613) or 80001 <= code <= 80014:
            return SandboxError(429, {"data": {}, "error": {"code": "rate_limit_exceeded",
                                                            "message": "Too many requests.", "log_id": "sandbox"}})
        if code == 10 or 200 <= code < 300:
            return SandboxError(401, {"data": {}, "error": {"code": "scope_not_authorized",
                                                            "message": "The user did not authorize the scope "
                                                                       "required for completing this request.",
                                                            "log_id": "sandbox"}})
        if code == 190:
            return SandboxError(401, {"data": {}, "error": {"code": "access_token_invalid",
                                                            "message": "The access token is invalid or not found "
                                                                       "in the request.", "log_id": "sandbox"}})
        return SandboxError(500, {"data": {}, "error": {"code": "internal_error", "message": "Internal error.",
                                                        "log_id": "sandbox"}})
    status, message, error_type, transient = META_FAULTS.get(code, (400, f"(#{code}) Sandbox error",
                                                                    "OAuthException", None))
    return meta_error(status, message, code, subcode=subcode, error_type=error_type, transient=transient)


def api_route(api: str):
    """Wrap an imitated endpoint: latency, injected faults, usage headers, errors in the API's shape."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            sandbox = state()
            sandbox.record_call(request.method, request.path)
            if sandbox.latency_ms:
                time.sleep(sandbox.latency_ms / 1000)
            subject = kwargs.get("object_id")
            usage = sandbox.usage_now()
            try:
                fault = sandbox.take_fault(api, request.path)
                if fault is None and usage > 100:
                    fault = Fault(4)  # over the call limit set with set_call_limit
                if fault is not None:
                    raise fault_error(api, fault.code, fault.subcode)
                body = view(*args, **kwargs)
                status, headers = 200, {}
            except SandboxError as exc:
                body, status, headers = exc.body, exc.status, dict(exc.headers)
            limited = isinstance(body, dict) and isinstance(body.get("error"), dict) and (
                body["error"].get("code") in (4, 17, 32, 341, 613) or str(body["error"].get("code", "")).startswith("800"))
            if api != "tiktok":
                percent = 100.0 if limited else usage
                headers.update(_usage_headers(percent, subject, regain_minutes=5 if limited else 0))
            response = jsonify(body)
            response.status_code = status
            response.headers.update(headers)
            return response

        return inner

    return wrap


def parse_fields(raw: str | None) -> dict[str, str | None]:
    """`a,b{c,d},e` -> {"a": None, "b": "c,d", "e": None}."""
    fields: dict[str, str | None] = {}
    depth, start, name, nested_start = 0, 0, None, 0
    raw = raw or ""
    for i, ch in enumerate(raw + ","):
        if ch == "{":
            if depth == 0:
                name, nested_start = raw[start:i].strip(), i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                fields[name] = raw[nested_start:i]
                start = i + 1
                name = None
        elif ch == "," and depth == 0:
            piece = raw[start:i].strip()
            if piece:
                fields[piece] = None
            start = i + 1
    return fields


def select(obj: dict, fields: str | None, default: tuple[str, ...]) -> dict:
    """The requested fields of an object (always with its id), as Graph answers `?fields=`."""
    wanted = parse_fields(fields) or {name: None for name in default}
    out = {}
    for name, nested in wanted.items():
        if name not in obj:
            continue
        value = obj[name]
        if nested and isinstance(value, dict):
            value = select(value, nested, tuple(value))
        out[name] = value
    out.setdefault("id", obj.get("id"))
    return out


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode().rstrip("=")


def _index(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except ValueError:
        raise meta_error(400, "(#100) The after cursor is invalid", 100) from None


def paged(items: list[dict], *, default_limit: int = 25, max_limit: int = 100) -> dict:
    """A Graph list answer: data, paging.cursors, and paging.next while more remain."""
    try:
        limit = max(1, min(max_limit, int(param("limit") or default_limit)))
    except ValueError:
        raise meta_error(400, "(#100) Param limit must be an integer", 100) from None
    start = _index(param("after"))
    page = items[start:start + limit]
    body: dict = {"data": page}
    if page:
        body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page))}}
        if start + limit < len(items):
            query = {k: v for k, v in request.args.items() if k != "after"}
            query["after"] = _cursor(start + limit)
            body["paging"]["next"] = f"{request.base_url}?{urlencode(query)}"
    return body
