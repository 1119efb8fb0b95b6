"""TikTok Login Kit v2 imitated: the authorize page, `/v2/oauth/token/`, `/v2/user/info/`, revoke.

Mounted under /tiktok-web (www.tiktok.com) and /tiktok (open.tiktokapis.com) of the sandbox.
"""
from __future__ import annotations

import time

from flask import Blueprint, abort, request

from webhook_app.sandbox.common import api_route, bearer_token, param, state
from webhook_app.sandbox.meta import back_to, consent
from webhook_app.sandbox.state import TIKTOK_ACCESS_SECONDS, TIKTOK_REFRESH_SECONDS, SandboxError

auth_bp = Blueprint("sandbox_tiktok_web", __name__, url_prefix="/tiktok-web")
api_bp = Blueprint("sandbox_tiktok_api", __name__, url_prefix="/tiktok")


def _oauth_error(error: str, description: str, status: int = 400) -> SandboxError:
    return SandboxError(status, {"error": error, "error_description": description, "log_id": "sandbox"})


def _api_error(code: str, message: str, status: int) -> SandboxError:
    return SandboxError(status, {"data": {}, "error": {"code": code, "message": message, "log_id": "sandbox"}})


@auth_bp.route("/v2/auth/authorize/", methods=["GET", "POST"])
def authorize():
    """TikTok's consent page; Approve returns code + scopes + state, Deny returns error=access_denied."""
    client_key, redirect_uri = param("client_key"), param("redirect_uri")
    if not client_key or not redirect_uri or not redirect_uri.startswith(("http://", "https://")):
        abort(400, "client_key and an absolute redirect_uri are required")
    scopes = [s for s in (param("scope") or "").split(",") if s]
    sandbox = state()
    if request.method == "GET":
        people = [(u.open_id, u.display_name) for u in sandbox.tiktok_users.values()]
        return consent("TikTok", "Log in with TikTok", client_key, scopes, people)
    back = {"state": param("state", "")}
    if request.form.get("decision") != "approve":
        return back_to(redirect_uri, {"error": "access_denied",
                                      "error_description": "The user denied the authorization request.", **back})
    subject = request.form.get("subject") or sandbox.default_tiktok_user().open_id
    code = sandbox.issue_code("tiktok", subject, redirect_uri, scopes)
    return back_to(redirect_uri, {"code": code, "scopes": ",".join(scopes), **back})


def _token_pair(open_id: str, scopes: list[str]) -> dict:
    sandbox = state()
    access = sandbox.issue_token("tiktok_access", open_id, scopes, lifetime=TIKTOK_ACCESS_SECONDS)
    refresh = sandbox.issue_token("tiktok_refresh", open_id, scopes, lifetime=TIKTOK_REFRESH_SECONDS)
    return {"access_token": access.value, "expires_in": TIKTOK_ACCESS_SECONDS, "open_id": open_id,
            "refresh_expires_in": TIKTOK_REFRESH_SECONDS, "refresh_token": refresh.value,
            "scope": ",".join(scopes), "token_type": "Bearer"}


@api_bp.post("/v2/oauth/token/")
@api_route("tiktok")
def token():
    """authorization_code -> tokens; refresh_token -> a new access token and refresh token (the old one voided)."""
    sandbox = state()
    if not param("client_key") or param("client_secret") != sandbox.app_secret:
        raise _oauth_error("invalid_client", "Client key or secret is incorrect.", 401)
    grant = param("grant_type")
    if grant == "authorization_code":
        code = sandbox.codes.get(param("code") or "")
        if code is None or code.provider != "tiktok" or code.used or code.expires_at < time.time():
            raise _oauth_error("invalid_grant", "Authorization code is expired or was already used.")
        if param("redirect_uri") != code.redirect_uri:
            raise _oauth_error("invalid_request", "redirect_uri does not match.")
        code.used = True
        return _token_pair(code.subject, code.scopes)
    if grant == "refresh_token":
        found = sandbox.tokens.get(param("refresh_token") or "")
        if found is None or found.kind != "tiktok_refresh" or sandbox.token_problem(found):
            raise _oauth_error("invalid_grant", "Refresh token is invalid or expired.")
        # Rotation: the refresh token just used stops working once its successor is issued.
        sandbox.revoke_tokens(value=found.value)
        return _token_pair(found.subject, found.scopes)
    raise _oauth_error("unsupported_grant_type", "grant_type is not supported.")


@api_bp.post("/v2/oauth/revoke/")
@api_route("tiktok")
def revoke():
    sandbox = state()
    if param("client_secret") != sandbox.app_secret:
        raise _oauth_error("invalid_client", "Client key or secret is incorrect.", 401)
    found = sandbox.tokens.get(param("token") or "")
    if found is not None:
        sandbox.revoke_tokens(subject=found.subject, kind="tiktok_access")
        sandbox.revoke_tokens(subject=found.subject, kind="tiktok_refresh")
    return {}


@api_bp.get("/v2/user/info/")
@api_route("tiktok")
def user_info():
    sandbox = state()
    found = sandbox.tokens.get(bearer_token() or "")
    if found is None or found.kind != "tiktok_access" or sandbox.token_problem(found):
        raise _api_error("access_token_invalid", "The access token is invalid or not found in the request.", 401)
    user = sandbox.tiktok_users[found.subject]
    wanted = [f for f in (param("fields") or "open_id").split(",") if f]
    data = {k: v for k, v in vars(user).items() if k in wanted}
    return {"data": {"user": data}, "error": {"code": "ok", "message": "", "log_id": "sandbox"}}
