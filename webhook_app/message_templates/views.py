"""`/api/templates`: approved templates, the manual sync (rate-limited, SPEC 12) and the sync status."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask_login import current_user, login_required

from webhook_app.accounts import graph
from webhook_app.message_templates import sync as templates_sync
from webhook_app.db.pool import get_db
from webhook_app.web.extensions import limiter, user_or_ip
from webhook_app.tokens.vault import from_settings as vault_from_settings

bp = Blueprint("templates", __name__, url_prefix="/templates")

# One budget per user for every sync endpoint (templates here, token validation elsewhere).
sync_limit = limiter.shared_limit(lambda: current_app.config["RATELIMITS"]["RATELIMIT_SYNC"],
                                  scope="sync", key_func=user_or_ip)


def _iso(value):
    return value.isoformat() if value is not None else None


@bp.get("")
@login_required
def list_templates():
    """The user's APPROVED templates with their parsed components."""
    rows = get_db().all("approved_templates", user_id=current_user.id)
    return jsonify(templates=[{
        "id": r["template_id"], "name": r["name"], "language": r["language"], "category": r["category"],
        "quality_score": r["quality_score"], "components": r["components"], "waba_id": r["waba_id"],
        "account_id": f"whatsapp-{r['whatsapp_account_id']}", "updated_at": _iso(r["updated_at"]),
    } for r in rows])


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
    return jsonify(template_status(current_user.id))


def template_status(user_id: int) -> dict:
    db = get_db()
    counts = {r["status"]: r["count"] for r in db.all("template_counts", user_id=user_id)}
    states = db.all("template_sync_states", user_id=user_id)
    synced = [s["last_synced_at"] for s in states if s["last_synced_at"]]
    errors = sorted((s for s in states if s["last_error"]), key=lambda s: s["last_error_at"], reverse=True)
    return {
        "counts": counts, "approved": counts.get("APPROVED", 0), "total": sum(counts.values()),
        "last_synced_at": _iso(max(synced)) if synced else None,
        "last_error": errors[0]["last_error"] if errors else None,
        "last_error_at": _iso(errors[0]["last_error_at"]) if errors else None,
        "running": any(s["running"] for s in states),
        "accounts": [{"account_id": f"whatsapp-{s['whatsapp_account_id']}", "waba_id": s["waba_id"],
                      "name": s["name"], "running": bool(s["running"]), "last_synced_at": _iso(s["last_synced_at"]),
                      "templates": s["template_count"], "last_error": s["last_error"],
                      "last_error_at": _iso(s["last_error_at"])} for s in states],
    }
