"""Account data sync (SPEC 10): follower and media counts and recent posts of Instagram and TikTok accounts.

Accounts synced within the interval (12 hours) are left alone; each other account gets one snapshot
in `account_metrics` per run. Calls are spaced, and a run stops early (the rest stay due for the
next run) when Meta or TikTok limit us or Meta's usage headers say the budget is nearly spent.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from webhook_app.accounts.graph import GraphClient, GraphError, RateLimited, TikTokClient
from webhook_app.db import Database
from webhook_app.tokens import tiktok_tokens
from webhook_app.tokens.credentials import TokenUnavailable, open_token
from webhook_app.tokens.vault import Vault

log = logging.getLogger(__name__)

SYNC_INTERVAL_HOURS = 12
RECENT_MEDIA = 10
# The Graph client already pauses from 80 %; past this we leave the remaining accounts for the next run.
STOP_AT_USAGE = 95.0
INSTAGRAM_FIELDS = "followers_count,follows_count,media_count"
MEDIA_FIELDS = "id,caption,media_type,permalink,like_count,comments_count,timestamp"
TIKTOK_FIELDS = "open_id,follower_count,following_count,likes_count,video_count"
# Spelled out, not built from the kind, so every query name stands in the code as written.
FAILED_QUERIES = {"instagram": "instagram_data_sync_failed", "tiktok": "tiktok_data_sync_failed"}


@dataclass
class DataSyncReport:
    synced: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)   # left for the next run (rate limit, usage)

    def as_dict(self) -> dict:
        return {"synced": self.synced, "failed": self.failed, "deferred": self.deferred}


@dataclass
class DataSync:
    db: Database
    vault: Vault
    graph: GraphClient              # graph.facebook.com: Instagram accounts reached through a Page
    instagram: GraphClient          # graph.instagram.com: Instagram Login accounts
    tiktok: TikTokClient
    spacing: float = 2.0
    hours: int = SYNC_INTERVAL_HOURS
    sleep: Callable[[float], None] = time.sleep
    report: DataSyncReport = field(default_factory=DataSyncReport)
    visited: int = 0

    def run(self) -> DataSyncReport:
        """Visit every due Instagram account, then every due TikTok account."""
        self._visit(self.db.all("instagram_accounts_due_for_data_sync", hours=self.hours), "instagram",
                    self._instagram)
        self._visit(self.db.all("tiktok_accounts_due_for_data_sync", hours=self.hours), "tiktok", self._tiktok)
        return self.report

    def _visit(self, rows: list[dict], kind: str, sync_one: Callable[[dict], None]) -> None:
        for index, row in enumerate(rows):
            name = f"{kind}-{row['id']}"
            if self.visited:
                self.sleep(self.spacing)  # spread the calls out, across platforms too
            self.visited += 1
            try:
                sync_one(row)
            except RateLimited as exc:
                log.warning("%s: limited by the API (%s); the rest waits for the next run", name, exc.message)
                self.report.deferred.extend(f"{kind}-{r['id']}" for r in rows[index:])
                return
            except (TokenUnavailable, GraphError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                self.db.run(FAILED_QUERIES[kind], id=row["id"], error=message[:500])
                self.report.failed[name] = message
                log.warning("%s: data sync failed: %s", name, message)
                continue
            self.report.synced.append(name)
            if kind == "instagram" and max(self.graph.last_usage.percent,
                                           self.instagram.last_usage.percent) >= STOP_AT_USAGE:
                log.warning("Graph usage above %.0f%%; the rest waits for the next run", STOP_AT_USAGE)
                self.report.deferred.extend(f"{kind}-{r['id']}" for r in rows[index + 1:])
                return

    def _instagram(self, row: dict) -> None:
        token = open_token(self.vault, row)
        client = self.instagram if row["token_kind"] == "instagram_login" else self.graph
        info = client.get(f"/{row['ig_user_id']}", token, fields=INSTAGRAM_FIELDS)
        media = client.get(f"/{row['ig_user_id']}/media", token, fields=MEDIA_FIELDS, limit=RECENT_MEDIA)
        posts = [{**m, "timestamp": _graph_time(m.get("timestamp"))} for m in media.get("data", [])[:RECENT_MEDIA]]
        with self.db.transaction() as tx:
            tx.run("record_instagram_metrics", id=row["id"], user_id=row["user_id"],
                   followers_count=info.get("followers_count"), follows_count=info.get("follows_count"),
                   media_count=info.get("media_count"))
            tx.run("upsert_account_media", id=row["id"], user_id=row["user_id"], media=json.dumps(posts))

    def _tiktok(self, row: dict) -> None:
        # TikTok's access token lasts 2 hours: refreshed first (one writer per account) when it is nearly out.
        token = tiktok_tokens.access_token(self.db, self.vault, self.tiktok, row)
        user = self.tiktok.user_info(token, fields=TIKTOK_FIELDS)
        self.db.run("record_tiktok_metrics", id=row["id"], user_id=row["user_id"],
                    followers_count=user.get("follower_count"), follows_count=user.get("following_count"),
                    media_count=user.get("video_count"), likes_count=user.get("likes_count"))


def _graph_time(value: str | None) -> str | None:
    """Meta's `2024-05-01T10:00:00+0000` as ISO 8601 PostgreSQL reads (`+00:00`)."""
    if value and len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        return value[:-2] + ":" + value[-2:]
    return value
