"""`/connect/instagram`: Instagram API with Instagram Login (SPEC 9), for Instagram professional accounts without
a Facebook Page.

The consent page on www.instagram.com (`instagram_business_*` scopes) -> a code -> a short-lived token
(api.instagram.com/oauth/access_token, 1 hour) -> `ig_exchange_token` (60 days) on graph.instagram.com ->
the account (`/me`) -> its webhook subscription (`POST /me/subscribed_apps`). The token is refreshed with
`ig_refresh_token` by the refresh job once it is 24 hours old; its webhooks arrive as object `instagram`.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_login import current_user, login_required

from webhook_app.accounts import graph
from webhook_app.accounts import store as accounts
from webhook_app.accounts.connect import (
    _callback_code,
    _new_state,
    _owned_elsewhere,
    _provider_failed,
    _redirect_uri,
    connect_limit,
)
from webhook_app.db import get_db
from webhook_app.tokens.vault import from_settings as vault_from_settings

bp = Blueprint("connect_instagram", __name__, url_prefix="/connect/instagram")

SCOPES = ("instagram_business_basic", "instagram_business_manage_messages", "instagram_business_manage_comments")
WEBHOOK_FIELDS = ("comments", "messages", "mentions", "message_reactions", "messaging_postbacks", "messaging_seen")
ME_FIELDS = "user_id,username,name,account_type,profile_picture_url,followers_count,media_count"


def _settings():
    return current_app.config["SETTINGS"]


@bp.get("")
@login_required
@connect_limit
def start():
    """Start Instagram Login (Business Login for Instagram)."""
    settings = _settings()
    query = {"client_id": settings.meta_client_id, "redirect_uri": _redirect_uri("connect_instagram.callback"),
             "response_type": "code", "scope": ",".join(SCOPES), "state": _new_state("instagram")}
    return redirect(f"{settings.instagram_auth_url}/oauth/authorize?{urlencode(query)}")


@bp.get("/callback")
@login_required
def callback():
    code, refused = _callback_code("instagram", "Instagram", "Instagram")
    if refused:
        return refused
    settings = _settings()
    client = graph.instagram_client(settings)
    try:
        short = graph.instagram_login_client(settings).exchange_code(code, _redirect_uri("connect_instagram.callback"))
        long_lived = client.long_lived_token(short["access_token"])
        token = long_lived["access_token"]
        me = client.get("/me", token, fields=ME_FIELDS)
        client.post("/me/subscribed_apps", token, subscribed_fields=",".join(WEBHOOK_FIELDS))
    except graph.GraphError as exc:
        return _provider_failed("Instagram", exc)
    # Webhooks name the professional account by its Instagram user id (`user_id`), not the app-scoped `id`.
    ig_user_id = str(me.get("user_id") or short["user_id"] or me["id"])
    try:
        accounts.store_instagram_login(get_db(), vault_from_settings(settings), current_user.id,
                                       ig_user_id=ig_user_id, profile=me, token=token,
                                       expires_in=long_lived.get("expires_in"),
                                       scopes=short["permissions"] or list(SCOPES),
                                       subscribed_fields=list(WEBHOOK_FIELDS))
    except accounts.OwnedByAnotherUser as exc:
        return _owned_elsewhere(exc)
    current_app.logger.info("user %s connected an Instagram account by Instagram Login", current_user.id)
    flash(f"Connected Instagram account @{me.get('username', '')} (Instagram Login).", "ok")
    return redirect(url_for("dashboard.index"))
