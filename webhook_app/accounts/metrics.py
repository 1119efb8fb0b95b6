"""Account metrics as the dashboard charts them: snapshots grouped by account, and recent posts."""
from __future__ import annotations

from webhook_app.db import Database
from webhook_app.web.serialize import iso

RECENT_MEDIA = 20


def user_metrics(db: Database, user_id: int, days: int) -> dict:
    """The user's snapshots of the last `days` days grouped by account (oldest first), and recent posts."""
    series: dict[str, dict] = {}
    for row in db.all("user_metrics", user_id=user_id, days=days):
        account = series.setdefault(row["account_id"], {"account_id": row["account_id"], "name": row["name"],
                                                        "points": []})
        account["points"].append({"taken_at": row["taken_at"].isoformat(), "followers": row["followers_count"],
                                  "follows": row["follows_count"], "media": row["media_count"],
                                  "likes": row["likes_count"]})
    media = [{**m, "posted_at": iso(m["posted_at"])}
             for m in db.all("user_recent_media", user_id=user_id, limit=RECENT_MEDIA)]
    return {"accounts": list(series.values()), "recent_media": media}
