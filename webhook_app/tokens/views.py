"""`/api/token-health`: token validity per account (cached 5 minutes), forced validation, fix, clear cache."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask_login import current_user, login_required

from webhook_app.accounts import store as accounts
from webhook_app.db import get_db
from webhook_app.tokens import health as token_health
from webhook_app.tokens import refresh as tokens
from webhook_app.tokens.vault import from_settings as vault_from_settings
from webhook_app.web.errors import error_response
from webhook_app.web.extensions import limiter, user_or_ip

bp = Blueprint("token_health", __name__, url_prefix="/token-health")

validate_limit = limiter.shared_limit(lambda: current_app.config["RATELIMITS"]["RATELIMIT_SYNC"],
                                      scope="token-validate", key_func=user_or_ip)


def _settings():
    return current_app.config["SETTINGS"]


def _health(force: bool):
    settings = _settings()
    items = token_health.user_health(get_db(), vault_from_settings(settings), tokens.Clients.from_settings(settings),
                                     current_user.id, window_days=settings.token_refresh_window_days,
                                     cache_seconds=settings.token_health_cache_seconds, force=force)
    return jsonify(accounts=items, cache_seconds=settings.token_health_cache_seconds)


@bp.get("")
@login_required
def index():
    """Each account's token health, from the cache while it is fresh."""
    return _health(force=False)


@bp.post("/validate")
@login_required
@validate_limit
def validate():
    """Ask Meta / TikTok again about every account, whatever the cache holds."""
    return _health(force=True)


@bp.post("/accounts/<account_id>/fix")
@login_required
def fix(account_id: str):
    """Try to refresh one account's token now; a token Meta refuses needs the user to reconnect."""
    settings = _settings()
    db = get_db()
    try:
        row = tokens.claim_account(db, current_user.id, account_id)
    except accounts.AccountNotFound:
        return error_response(404, "No such account.")
    if row is None:
        return _not_refreshable(account_id)
    outcome = tokens.refresh(db, vault_from_settings(settings), tokens.Clients.from_settings(settings, db=db), row)
    token_health.clear_cache(db, current_user.id)
    body = outcome.as_dict()
    if outcome.outcome == "refreshed":
        return jsonify(body)
    if outcome.outcome == "needs_reauth":
        return jsonify({**body, "reconnect": tokens.RECONNECT_PATHS[row["kind"]]}), 409
    headers = {"Retry-After": str(int(outcome.retry_after or 60))} if outcome.outcome == "rate_limited" else None
    return error_response(503 if headers else 502, f"The refresh did not go through ({outcome.message}); "
                                                   "it will be tried again later.", headers)


def _not_refreshable(account_id: str):
    """Someone else's id and a missing one look the same; so does an account that cannot be refreshed now."""
    kind, _ = accounts.parse_account_id(account_id)
    mine = {a["id"]: a for a in accounts.list_accounts(get_db(), current_user.id,
                                                       _settings().token_refresh_window_days)}
    if account_id not in mine:
        return error_response(404, "No such account.")
    if mine[account_id]["status"] == "needs_reauth":
        return jsonify(account=account_id, outcome="needs_reauth", reconnect=tokens.RECONNECT_PATHS[kind]), 409
    return error_response(409, "This token cannot be refreshed now (another refresh is running, or an Instagram "
                               "token is less than 24 hours old).")


@bp.delete("/cache")
@login_required
def clear_cache():
    """Forget the cached checks, so the next look asks Meta / TikTok again."""
    return jsonify(cleared=token_health.clear_cache(get_db(), current_user.id))


def init_app(app) -> None:
    """Pages can ask `reauth_banners()` for the accounts the user must connect again (dashboard banners)."""

    @app.context_processor
    def _banners():
        def reauth_banners():
            if not current_user.is_authenticated:
                return []
            return tokens.reauth_banners(get_db(), current_user.id, _settings().token_refresh_window_days)

        return {"reauth_banners": reauth_banners}
