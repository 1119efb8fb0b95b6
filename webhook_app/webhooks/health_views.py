"""`/api/webhook-health`: is Meta reaching us for this user, and is the rest keeping up (SPEC 6)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from webhook_app.db import get_db
from webhook_app.webhooks import health

bp = Blueprint("webhook_health", __name__)


@bp.get("/webhook-health")
@login_required
def webhook_health():
    """Verified, last delivery received and processed, failures in the last hour, template sync state."""
    return jsonify(health.report(get_db(), current_user.id))
