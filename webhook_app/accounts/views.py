"""`/api/accounts` and `/api/pages`: the user's connected accounts and Pages as JSON (never tokens).

`/api/accounts` also carries `graph_api` (the Graph API version's end-of-life warning) and `silence` (each live
webhook subscription's activity and alarm, accounts/silence.py); `/api/accounts/health` holds just those two;
`POST /api/accounts/subscriptions/<id>/check` asks Meta and subscribes again. The dashboard's banner partial
reads the same through the `account_warnings()` template function.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from flask import Blueprint, current_app, jsonify
from flask_login import current_user, login_required

from webhook_app.accounts import graph, silence
from webhook_app.accounts import store as accounts
from webhook_app.db import get_db
from webhook_app.tokens.credentials import TokenUnavailable
from webhook_app.tokens.vault import from_settings as vault_from_settings
from webhook_app.web.errors import error_response
from webhook_app.web.extensions import limiter, user_or_ip

bp = Blueprint("accounts", __name__)

check_limit = limiter.shared_limit(lambda: current_app.config["RATELIMITS"]["RATELIMIT_SYNC"],
                                   scope="subscription-check", key_func=user_or_ip)

NOT_FOUND = "No such account."


def _settings():
    return current_app.config["SETTINGS"]


def today() -> date:
    """Today in UTC; `app.config["CLOCK"]` (a callable returning an aware datetime) sets the clock in tests."""
    clock = current_app.config.get("CLOCK")
    return (clock() if clock else datetime.now(timezone.utc)).astimezone(timezone.utc).date()


def now() -> datetime:
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.now(timezone.utc)


def graph_api_status() -> dict:
    return graph.version_status(_settings().meta_graph_version, today())


def silence_report(user_id: int) -> list[dict]:
    return silence.report(get_db(), user_id, _settings().silence_alarm_hours, now())


@bp.get("/accounts")
@login_required
def list_accounts():
    """Connected accounts with status (active, expiring, needs_reauth, inactive)."""
    items = accounts.list_accounts(get_db(), current_user.id, _settings().token_refresh_window_days)
    return jsonify(accounts=items, graph_api=graph_api_status(), silence=silence_report(current_user.id))


@bp.get("/accounts/health")
@login_required
def health():
    """What the Health page shows about accounts: the Graph API version's end of life, and silent subscriptions."""
    return jsonify(graph_api=graph_api_status(), silence=silence_report(current_user.id))


@bp.post("/accounts/subscriptions/<int:subscription_id>/check")
@login_required
@check_limit
def check_subscription(subscription_id: int):
    """Ask Meta (GET /{id}/subscribed_apps) whether our app still gets this account's webhooks; resubscribe if not."""
    settings = _settings()
    try:
        result = silence.check(get_db(), vault_from_settings(settings), graph.meta_client(settings),
                               graph.instagram_client(settings), current_user.id, subscription_id)
    except silence.SubscriptionNotFound:
        return error_response(404, "No such subscription.")
    except TokenUnavailable:
        return error_response(409, "This account must be connected again before its subscription can be checked.")
    except graph.ReauthorizationRequired as exc:
        return error_response(409, f"Meta refused the account's token ({exc.message}); connect it again.")
    except graph.RateLimited as exc:
        return error_response(503, "Meta is limiting requests; try again in a few minutes.",
                              {"Retry-After": str(int(exc.retry_after or 60))})
    except graph.GraphError as exc:
        return error_response(502, f"Meta did not answer the check: {exc.message}")
    current_app.logger.info("user %s checked subscription %s: %s", current_user.id, subscription_id,
                            result["result"])
    return jsonify(result)


@bp.delete("/accounts/<account_id>")
@login_required
def disconnect(account_id: str):
    """Unsubscribe at Meta, then delete the account and its stored tokens."""
    settings = _settings()
    try:
        result = accounts.disconnect(get_db(), vault_from_settings(settings), current_user.id, account_id,
                                     graph=graph.meta_client(settings), tiktok=graph.tiktok_client(settings),
                                     instagram=graph.instagram_client(settings))
    except accounts.AccountNotFound:
        return error_response(404, NOT_FOUND)
    current_app.logger.info("user %s disconnected %s", current_user.id, account_id)
    return jsonify(result)


@bp.get("/pages")
@login_required
def list_pages():
    return jsonify(pages=accounts.list_pages(get_db(), current_user.id))


@bp.post("/pages/<int:page_id>/select")
@login_required
def select_page(page_id: int):
    """Subscribe the Page to our webhook fields at Meta and watch it."""
    settings = _settings()
    try:
        page = accounts.select_page(get_db(), vault_from_settings(settings), graph.meta_client(settings),
                                    current_user.id, page_id)
    except accounts.AccountNotFound:
        return error_response(404, "No such Page.")
    except accounts.TokenUnavailable as exc:
        return error_response(409, f"This Page must be connected again: {exc}.")
    except graph.ReauthorizationRequired as exc:
        return error_response(409, f"Meta refused the Page's token ({exc.message}); connect Facebook again.")
    except graph.RateLimited as exc:
        return error_response(503, "Meta is limiting requests; try again in a few minutes.",
                              {"Retry-After": str(int(exc.retry_after or 60))})
    except graph.GraphError as exc:
        return error_response(502, f"Meta did not subscribe the Page: {exc.message}")
    current_app.logger.info("user %s selected page %s", current_user.id, page["page_id"])
    return jsonify(page=page)


def init_app(app) -> None:
    """Warn in the log at start-up when the Graph API version nears its end, and give pages `account_warnings()`."""
    graph.warn_if_version_ending(app.config["SETTINGS"].meta_graph_version, datetime.now(timezone.utc).date())

    @app.context_processor
    def _warnings():
        def account_warnings():
            """Warnings for the banner partial: the Graph API version's end of life, then silent subscriptions."""
            if not current_user.is_authenticated:
                return []
            status = graph_api_status()
            found = [{"kind": "graph_version", "text": status["warning"]}] if status["warning"] else []
            return found + [{"kind": "silence", "text": s["message"], "subscription_id": s["subscription_id"]}
                            for s in silence_report(current_user.id) if s["silent"]]

        return {"account_warnings": account_warnings}
