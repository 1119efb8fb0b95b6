"""Instagram API with Instagram Login imitated: the consent page, the code exchange, ig_exchange_token,
`/me/subscribed_apps` and the send API of graph.instagram.com.

Mounted under /instagram-web (www.instagram.com), /instagram-api (api.instagram.com) and /instagram
(graph.instagram.com, beside meta.py's refresh_access_token, /me and media). Shapes from Meta's reference:
"Business Login for Instagram", "Access Token" (ig_exchange_token), "Refresh Access Token", and the
Instagram Login webhooks and messaging pages.
"""
from __future__ import annotations

import time

from flask import Blueprint, abort, request

from webhook_app.sandbox.common import api_route, bearer_token, param, state
from webhook_app.sandbox.meta import back_to, consent
from webhook_app.sandbox.state import LONG_LIVED_SECONDS, SandboxError, Token, meta_error

auth_bp = Blueprint("sandbox_instagram_web", __name__, url_prefix="/instagram-web")
api_bp = Blueprint("sandbox_instagram_api", __name__, url_prefix="/instagram-api")
graph_bp = Blueprint("sandbox_instagram_login", __name__, url_prefix="/instagram")
blueprints = (auth_bp, api_bp, graph_bp)

SHORT_LIVED_SECONDS = 3600   # "Access tokens from the business login flow are short-lived and valid for 1 hour"
WEBHOOK_FIELDS = {"comments", "live_comments", "mentions", "messages", "message_reactions", "message_edit",
                  "messaging_postbacks", "messaging_referral", "messaging_seen", "messaging_optins",
                  "messaging_handover", "story_insights"}


def _legacy_error(message: str, status: int = 400) -> SandboxError:
    """api.instagram.com's own error shape: {"error_type", "code", "error_message"}."""
    return SandboxError(status, {"error_type": "OAuthException", "code": status, "error_message": message})


@auth_bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():
    """Instagram's consent page; Allow sends a code back (with Meta's `#_` suffix), Cancel sends error=access_denied."""
    client_id, redirect_uri = param("client_id"), param("redirect_uri")
    if not client_id or not redirect_uri or not redirect_uri.startswith(("http://", "https://")):
        abort(400, "client_id and an absolute redirect_uri are required")
    scopes = [s for s in (param("scope") or "").replace(" ", ",").split(",") if s]
    if not any(s in ("instagram_business_basic", "instagram_basic") for s in scopes):
        abort(400, "scope must include instagram_business_basic")
    sandbox = state()
    if request.method == "GET":
        people = [(ig.id, f"@{ig.username}") for ig in sandbox.instagram.values()]
        return consent("Instagram", "Log in with Instagram", client_id, scopes, people)
    back = {"state": param("state", "")}
    if request.form.get("decision") != "approve":
        return back_to(redirect_uri, {"error": "access_denied", "error_reason": "user_denied",
                                      "error_description": "The user denied your request.", **back})
    subject = request.form.get("subject") or next(iter(sandbox.instagram))
    code = sandbox.issue_code("instagram", subject, redirect_uri, scopes)
    return back_to(redirect_uri, {"code": code, **back})


@api_bp.post("/oauth/access_token")
@api_route("instagram")
def access_token():
    """Code -> short-lived Instagram user token (1 hour): {"data": [{"access_token", "user_id", "permissions"}]}."""
    sandbox = state()
    if param("client_secret") != sandbox.app_secret:
        raise _legacy_error("Error validating client secret.")
    if param("grant_type") != "authorization_code":
        raise _legacy_error("Invalid grant_type")
    # Meta appends "#_" to the code in the redirect; a client that forgets to strip it is refused, as Meta does.
    code = sandbox.codes.get(param("code") or "")
    if code is None or code.provider != "instagram" or code.used or code.expires_at < time.time():
        raise _legacy_error("Error validating verification code. Please make sure your redirect_uri is identical "
                            "to the one you used in the OAuth dialog request")
    if param("redirect_uri") != code.redirect_uri:
        raise _legacy_error("Error validating verification code. Please make sure your redirect_uri is identical "
                            "to the one you used in the OAuth dialog request")
    code.used = True
    token = sandbox.issue_token("instagram_short", code.subject, code.scopes, lifetime=SHORT_LIVED_SECONDS,
                                prefix="IGAA")
    return {"data": [{"access_token": token.value, "user_id": code.subject, "permissions": ",".join(code.scopes)}]}


def _login_token(kinds=("instagram", "instagram_short")) -> Token:
    token = state().check_meta_token(bearer_token())
    if token.kind not in kinds:
        raise meta_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
    return token


@graph_bp.get("/access_token")
@graph_bp.get("/<version>/access_token")
@api_route("instagram")
def exchange_token(version: str | None = None):
    """`ig_exchange_token`: a short-lived token (not expired) -> a long-lived one (60 days)."""
    sandbox = state()
    if param("grant_type") != "ig_exchange_token":
        raise meta_error(400, "(#100) grant_type must be ig_exchange_token", 100)
    if param("client_secret") != sandbox.app_secret:
        raise meta_error(400, "Error validating client secret.", 1)
    short = _login_token(kinds=("instagram_short",))
    token = sandbox.issue_token("instagram", short.subject, short.scopes, lifetime=LONG_LIVED_SECONDS)
    return {"access_token": token.value, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}


@graph_bp.route("/<version>/me/subscribed_apps", methods=["GET", "POST", "DELETE"])
@api_route("instagram")
def subscribed_apps(version: str):
    """The Instagram professional account's webhook subscription for our app (Instagram user token)."""
    token = _login_token(kinds=("instagram",))
    account = state().instagram[token.subject]
    if request.method == "GET":
        if account.subscribed_fields is None:
            return {"data": []}
        return {"data": [{"id": "sandbox-app", "name": "Insta Connect",
                          "subscribed_fields": account.subscribed_fields}]}
    if request.method == "DELETE":
        state().set_instagram_subscription(account.id, None)
        return {"success": True}
    fields = [f for f in (param("subscribed_fields") or "").split(",") if f]
    unknown = [f for f in fields if f not in WEBHOOK_FIELDS]
    if not fields or unknown:
        raise meta_error(400, f"(#100) Param subscribed_fields must be one of {sorted(WEBHOOK_FIELDS)}"
                              + (f" - got {unknown}" if unknown else ""), 100)
    state().set_instagram_subscription(account.id, fields)
    return {"success": True}


@graph_bp.post("/<version>/me/messages")
@graph_bp.post("/<version>/<object_id>/messages")
@api_route("instagram")
def send_message(version: str, object_id: str | None = None):
    """The send API: {"recipient": {"id"}, "message": {"text"}} -> {"recipient_id", "message_id"}.

    Answered by sandbox/messaging.py as the Graph API's Instagram send is (counted, echoed, seen).
    """
    from webhook_app.sandbox import messaging

    token = _login_token(kinds=("instagram",))
    if object_id not in (None, token.subject):
        raise meta_error(400, f"Unsupported post request. Object with ID '{object_id}' does not exist", 100, subcode=33)
    return messaging.instagram_login_send(token.subject)
