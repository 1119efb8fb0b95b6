"""`/api/templates`: approved templates, the manual sync (rate-limited, SPEC 12) and the sync status."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user, login_required

from webhook_app.accounts import graph
from webhook_app.db import get_db
from webhook_app.message_templates import catalog
from webhook_app.message_templates import sync as templates_sync
from webhook_app.tokens.vault import from_settings as vault_from_settings
from webhook_app.web.extensions import limiter, user_or_ip

bp = Blueprint("templates", __name__, url_prefix="/templates")

# One budget per user for every sync endpoint (templates here, token validation elsewhere).
sync_limit = limiter.shared_limit(lambda: current_app.config["RATELIMITS"]["RATELIMIT_SYNC"],
                                  scope="sync", key_func=user_or_ip)


@bp.get("")
@login_required
def list_templates():
    """The user's APPROVED templates with their parsed components (`?status=all`: every template)."""
    if request.args.get("status") == "all":
        return jsonify(templates=catalog.every_template(get_db(), current_user.id))
    return jsonify(templates=catalog.approved(get_db(), current_user.id))


@bp.post("/sync")
@login_required
@sync_limit
def sync_now():
    """Pull the user's templates from Meta now and answer with what changed."""
    settings = current_app.config["SETTINGS"]
    results = templates_sync.sync_user(get_db(), vault_from_settings(settings), graph.meta_client(settings),
                                       current_user.id)
    body = {"accounts": [{**r.as_dict(), "account_id": f"whatsapp-{r.whatsapp_account_id}"} for r in results],
            "ok": all(r.ok for r in results)}
    if not results:
        body["message"] = "No WhatsApp Business account is connected."
    failed = [r for r in results if not r.ok]
    if failed:
        body["error"] = failed[0].error
        return jsonify(body), 502
    return jsonify(body)


@bp.get("/status")
@login_required
def status():
    """Counts by status, approved vs total, and each account's last sync and last error."""
    return jsonify(catalog.sync_status(get_db(), current_user.id))
