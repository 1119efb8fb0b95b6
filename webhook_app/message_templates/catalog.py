"""What the templates API shows: the approved templates to send, and how each account's sync is doing."""
from __future__ import annotations

from webhook_app.db import Database
from webhook_app.web.serialize import iso


def approved(db: Database, user_id: int) -> list[dict]:
    """The user's APPROVED templates with their parsed components."""
    return [{
        "id": r["template_id"], "name": r["name"], "language": r["language"], "category": r["category"],
        "quality_score": r["quality_score"], "components": r["components"], "waba_id": r["waba_id"],
        "account_id": f"whatsapp-{r['whatsapp_account_id']}", "updated_at": iso(r["updated_at"]),
    } for r in db.all("approved_templates", user_id=user_id)]


def every_template(db: Database, user_id: int) -> list[dict]:
    """All the user's templates, any status, with category, quality and rejection reason."""
    return [{
        "id": r["template_id"], "name": r["name"], "language": r["language"], "status": r["status"],
        "category": r["category"], "quality_score": r["quality_score"], "rejected_reason": r["rejected_reason"],
        "components": r["components"], "waba_id": r["waba_id"], "account_id": f"whatsapp-{r['whatsapp_account_id']}",
        "updated_at": iso(r["updated_at"]),
    } for r in db.all("all_user_templates", user_id=user_id)]


def sync_status(db: Database, user_id: int) -> dict:
    """Counts by status, approved vs total, and each account's last sync and last error."""
    counts = {r["status"]: r["count"] for r in db.all("template_counts", user_id=user_id)}
    states = db.all("template_sync_states", user_id=user_id)
    synced = [s["last_synced_at"] for s in states if s["last_synced_at"]]
    errors = sorted((s for s in states if s["last_error"]), key=lambda s: s["last_error_at"], reverse=True)
    return {
        "counts": counts, "approved": counts.get("APPROVED", 0), "total": sum(counts.values()),
        "last_synced_at": iso(max(synced)) if synced else None,
        "last_error": errors[0]["last_error"] if errors else None,
        "last_error_at": iso(errors[0]["last_error_at"]) if errors else None,
        "running": any(s["running"] for s in states),
        "accounts": [{"account_id": f"whatsapp-{s['whatsapp_account_id']}", "waba_id": s["waba_id"],
                      "name": s["name"], "running": bool(s["running"]), "last_synced_at": iso(s["last_synced_at"]),
                      "templates": s["template_count"], "last_error": s["last_error"],
                      "last_error_at": iso(s["last_error_at"])} for s in states],
    }
