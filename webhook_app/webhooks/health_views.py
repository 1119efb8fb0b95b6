"""`/api/webhook-health`: is Meta reaching us for this user, and is the rest keeping up (SPEC 6)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from webhook_app.accounts.views import graph_api_status
from webhook_app.db import get_db
from webhook_app.webhooks import health

bp = Blueprint("webhook_health", __name__)


@bp.get("/webhook-health")
@login_required
def webhook_health():
    """Verified, last delivery received and processed, failures in the last hour, unknown-owner deliveries,
    template sync state, and the Graph API version in use with its end of life (issue 21's calendar)."""
    return jsonify({**health.report(get_db(), current_user.id), "graph_api": graph_api_status()})
