"""A user's inbox: the interactions the webhook handlers recorded, newest first."""
from __future__ import annotations

from webhook_app.db import Database
from webhook_app.web.listing import decode_cursor, page


def list_interactions(db: Database, user_id: int, before: str | None, limit: int,
                      platform: str | None = None, kind: str | None = None) -> tuple[list[dict], str | None]:
    before_at, before_id = decode_cursor(before)
    rows = db.all("list_user_interactions", user_id=user_id, before_at=before_at, before_id=before_id,
                  limit=limit + 1, platform=platform, kind=kind)
    return page(rows, limit, "sort_at")
