"""`/api/metrics`: follower and media counts over time per account, and recent posts (the user's only)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_required

from webhook_app.accounts import metrics as account_metrics
from webhook_app.db import get_db
from webhook_app.web import params

bp = Blueprint("metrics", __name__)

MAX_DAYS = 365


@bp.get("/metrics")
@login_required
def metrics():
    """Snapshots grouped by account, oldest first (`?days=` up to a year, 90 by default)."""
    days = params.whole_number("days", request.args.get("days"), default=90, minimum=1, maximum=MAX_DAYS)
    return jsonify(**account_metrics.user_metrics(get_db(), current_user.id, days))
