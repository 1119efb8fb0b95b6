"""`/api/metrics`: follower and media counts over time per account, and recent posts (the user's only)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_required

from webhook_app.db.pool import get_db

bp = Blueprint("metrics", __name__)

MAX_DAYS = 365


@bp.get("/metrics")
@login_required
def metrics():
    """Snapshots grouped by account, oldest first (`?days=` up to a year, 90 by default)."""
    days = request.args.get("days", "90")
    days = min(MAX_DAYS, max(1, int(days))) if days.isdigit() else 90
    db = get_db()
    series: dict[str, dict] = {}
    for row in db.all("user_metrics", user_id=current_user.id, days=days):
        account = series.setdefault(row["account_id"], {"account_id": row["account_id"], "name": row["name"],
                                                        "points": []})
        account["points"].append({"taken_at": row["taken_at"].isoformat(), "followers": row["followers_count"],
                                  "follows": row["follows_count"], "media": row["media_count"],
                                  "likes": row["likes_count"]})
    media = [{**m, "posted_at": m["posted_at"].isoformat() if m["posted_at"] else None}
             for m in db.all("user_recent_media", user_id=current_user.id, limit=20)]
    return jsonify(accounts=list(series.values()), recent_media=media)
