"""The connect flows (SPEC 6, 9): Facebook Login for Pages + Instagram, WhatsApp Business, TikTok.

Each start is a GET that 302s to the provider's dialog with a fresh `state` kept in the server-side
session (single use, 10 minutes, bound to that session); each callback checks it before anything
else, exchanges the code, fetches what the account holds and stores it through `accounts`.
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required

from webhook_app.accounts import graph
from webhook_app.accounts import store as accounts
from webhook_app.db import get_db
from webhook_app.message_templates import sync as templates_sync
from webhook_app.tokens.vault import from_settings as vault_from_settings
from webhook_app.web.errors import error_response
from webhook_app.web.extensions import limiter, user_or_ip

bp = Blueprint("connect", __name__, url_prefix="/connect")

STATE_SECONDS = 600
MAX_PENDING_STATES = 5
META_SCOPES = ("pages_show_list", "pages_manage_metadata", "pages_read_engagement", "pages_messaging",
               "instagram_basic", "instagram_manage_messages", "instagram_manage_comments", "business_management")
WHATSAPP_SCOPES = ("whatsapp_business_management", "whatsapp_business_messaging", "business_management")
TIKTOK_SCOPES = ("user.info.basic", "user.info.profile", "user.info.stats", "video.list")
WHATSAPP_WEBHOOK_FIELDS = ["messages", "message_template_status_update", "template_category_update"]
BAD_STATE = ("This connection attempt is invalid, was already used or has expired. "
             "Start again from the dashboard.")

connect_limit = limiter.shared_limit(lambda: current_app.config["RATELIMITS"]["RATELIMIT_CONNECT"],
                                     scope="connect", key_func=user_or_ip)


def _settings():
    return current_app.config["SETTINGS"]


def _redirect_uri(endpoint: str) -> str:
    base = _settings().public_base_url or request.host_url.rstrip("/")
    return base + url_for(endpoint)


def _new_state(flow: str) -> str:
    """A fresh state for this session; a few may be pending at once (several tabs)."""
    now = time.time()
    pending = {k: v for k, v in session.get("oauth_states", {}).items() if v["expires"] > now}
    while len(pending) >= MAX_PENDING_STATES:
        pending.pop(min(pending, key=lambda k: pending[k]["expires"]))
    value = secrets.token_urlsafe(32)
    pending[value] = {"flow": flow, "expires": now + STATE_SECONDS}
    session["oauth_states"] = pending
    return value


def _take_state(flow: str) -> bool:
    """True once for a state this session was given for this flow, within 10 minutes."""
    given = request.args.get("state", "")
    pending = dict(session.get("oauth_states", {}))
    entry = pending.pop(given, None) if given else None
    session["oauth_states"] = pending
    return bool(entry) and entry["flow"] == flow and entry["expires"] > time.time()


def _meta_dialog(flow: str, scopes: tuple[str, ...], callback: str):
    settings = _settings()
    query = {"client_id": settings.meta_client_id, "redirect_uri": _redirect_uri(callback),
             "state": _new_state(flow), "scope": ",".join(scopes), "response_type": "code"}
    return redirect(f"{settings.meta_dialog_url}/{settings.meta_graph_version}/dialog/oauth?{urlencode(query)}")


def _declined(what: str):
    reason = request.args.get("error_description") or request.args.get("error")
    flash(f"{what} was not connected: you declined on the consent screen ({reason}). Nothing was stored.", "error")
    return redirect(url_for("dashboard.index"))


def _callback_code(flow: str, what: str, provider: str):
    """(code, None) for a genuine answer to this session's dialog, else (None, the response to give)."""
    if not _take_state(flow):
        return None, error_response(400, BAD_STATE)
    if request.args.get("error"):
        return None, _declined(what)
    code = request.args.get("code")
    if not code:
        return None, error_response(400, f"{provider} sent no authorization code. Start again from the dashboard.")
    return code, None


def _provider_failed(provider: str, exc: graph.GraphError):
    current_app.logger.warning("%s connect failed: %s: %s", provider, exc.__class__.__name__, exc)
    if isinstance(exc, graph.RateLimited):
        return error_response(503, f"{provider} is limiting requests right now; try again in a few minutes.",
                              {"Retry-After": str(int(exc.retry_after or 60))})
    return error_response(502, f"{provider} did not complete the connection: {exc.message}. Nothing was stored.")


def _owned_elsewhere(exc):
    current_app.logger.warning("user %s refused: %s is connected by another user", current_user.id, exc.external_id)
    return error_response(409, str(exc))


@bp.get("/meta")
@login_required
@connect_limit
def meta():
    """Start Facebook Login for the user's Pages and their Instagram Business accounts."""
    return _meta_dialog("meta", META_SCOPES, "connect.meta_callback")


def _user_token(client: graph.GraphClient, code: str, redirect_uri: str) -> dict:
    """Code -> short-lived -> long-lived user token."""
    short = client.exchange_code(code, redirect_uri)
    return client.long_lived_token(short["access_token"])


@bp.get("/meta/callback")
@login_required
def meta_callback():
    code, refused = _callback_code("meta", "Facebook / Instagram", "Meta")
    if refused:
        return refused
    client = graph.meta_client(_settings())
    try:
        long_lived = _user_token(client, code, _redirect_uri("connect.meta_callback"))
        token = long_lived["access_token"]
        me = client.get("/me", token, fields="id,name")
        info = client.debug_token(token)
        pages = []
        for page in client.paginate("/me/accounts", token, limit=100,
                                    fields="id,name,category,access_token,instagram_business_account"):
            ig = page.get("instagram_business_account")
            if ig and page.get("access_token"):
                ig = client.get(f"/{ig['id']}", page["access_token"],
                                fields="id,username,name,profile_picture_url,followers_count,media_count")
            pages.append({**page, "instagram": ig})
    except graph.GraphError as exc:
        return _provider_failed("Meta", exc)
    login = accounts.MetaLogin(meta_user_id=me["id"], name=me.get("name", ""), token=token,
                               expires_in=long_lived.get("expires_in"), scopes=list(info.get("scopes", [])),
                               pages=pages, data_access_expires_at=accounts.epoch(info.get("data_access_expires_at")))
    try:
        counts = accounts.store_meta_login(get_db(), vault_from_settings(_settings()), current_user.id, login)
    except accounts.OwnedByAnotherUser as exc:
        return _owned_elsewhere(exc)
    current_app.logger.info("user %s connected Meta login with %d pages, %d instagram accounts",
                            current_user.id, counts["pages"], counts["instagram"])
    flash(f"Connected {me.get('name', 'Facebook')}: {counts['pages']} Page(s), "
          f"{counts['instagram']} Instagram account(s). Pick the Page to watch below.", "ok")
    return redirect(url_for("dashboard.index"))


@bp.get("/whatsapp")
@login_required
@connect_limit
def whatsapp():
    """Start the WhatsApp Business connection (Facebook Login with the WhatsApp permissions)."""
    return _meta_dialog("whatsapp", WHATSAPP_SCOPES, "connect.whatsapp_callback")


@bp.get("/whatsapp/callback")
@login_required
def whatsapp_callback():
    code, refused = _callback_code("whatsapp", "WhatsApp", "Meta")
    if refused:
        return refused
    settings = _settings()
    client = graph.meta_client(settings)
    vault = vault_from_settings(settings)
    stored = []
    try:
        long_lived = _user_token(client, code, _redirect_uri("connect.whatsapp_callback"))
        token = long_lived["access_token"]
        info = client.debug_token(token)
        # The business accounts the person granted are the targets of this granular scope.
        waba_ids = next((g.get("target_ids", []) for g in info.get("granular_scopes", [])
                         if g.get("scope") == "whatsapp_business_management"), [])
        if not waba_ids:
            return error_response(400, "No WhatsApp Business account was shared. Start again and pick one.")
        for waba_id in waba_ids:
            waba = client.get(f"/{waba_id}", token, fields="id,name,currency,timezone_id,message_template_namespace")
            numbers = list(client.paginate(f"/{waba_id}/phone_numbers", token,
                                           fields="id,display_phone_number,verified_name,quality_rating"))
            client.post(f"/{waba_id}/subscribed_apps", token)
            stored.append(accounts.store_whatsapp_account(
                get_db(), vault, current_user.id, waba=waba, phone_numbers=numbers, token=token,
                expires_in=long_lived.get("expires_in"), scopes=list(info.get("scopes", [])),
                subscribed_fields=WHATSAPP_WEBHOOK_FIELDS,
                data_access_expires_at=accounts.epoch(info.get("data_access_expires_at"))))
            # The worker pulls the templates; the callback never waits for Meta's template pages.
            templates_sync.queue_sync(get_db(), stored[-1])
    except graph.GraphError as exc:
        return _provider_failed("Meta", exc)
    except accounts.OwnedByAnotherUser as exc:
        return _owned_elsewhere(exc)
    current_app.logger.info("user %s connected %d WhatsApp business accounts", current_user.id, len(stored))
    flash(f"Connected {len(stored)} WhatsApp Business account(s).", "ok")
    return redirect(url_for("dashboard.index"))


@bp.get("/tiktok")
@login_required
@connect_limit
def tiktok():
    """Start TikTok Login Kit v2."""
    settings = _settings()
    query = {"client_key": settings.tiktok_key, "scope": ",".join(TIKTOK_SCOPES), "response_type": "code",
             "redirect_uri": _redirect_uri("connect.tiktok_callback"), "state": _new_state("tiktok")}
    return redirect(f"{settings.tiktok_auth_url}/v2/auth/authorize/?{urlencode(query)}")


@bp.get("/tiktok/callback")
@login_required
def tiktok_callback():
    code, refused = _callback_code("tiktok", "TikTok", "TikTok")
    if refused:
        return refused
    client = graph.tiktok_client(_settings())
    try:
        tokens = client.exchange_code(code, _redirect_uri("connect.tiktok_callback"))
        user = client.user_info(tokens["access_token"])
    except graph.GraphError as exc:
        return _provider_failed("TikTok", exc)
    try:
        accounts.store_tiktok_account(get_db(), vault_from_settings(_settings()), current_user.id, user=user,
                                      tokens=tokens)
    except accounts.OwnedByAnotherUser as exc:
        return _owned_elsewhere(exc)
    current_app.logger.info("user %s connected a TikTok account", current_user.id)
    flash(f"Connected TikTok account {user.get('display_name', '')}.", "ok")
    return redirect(url_for("dashboard.index"))
