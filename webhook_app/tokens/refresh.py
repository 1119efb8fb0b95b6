"""Token refresh (SPEC 9): which tokens are due, refreshing each by its provider's method, and the record of it.

Facebook and WhatsApp user tokens are exchanged again with `fb_exchange_token` (and a Facebook login's
Page tokens derived again from the new user token through /me/accounts); Instagram Login tokens use
`ig_refresh_token` (at least 24 h old, not expired); TikTok uses its refresh token under the credential's
row lock (tokens/tiktok_tokens.py), and the rotated refresh token it hands back is stored with the access
token. Accounts are claimed (FOR UPDATE SKIP LOCKED + refresh_claimed_until) so two jobs started at once
never refresh the same account twice.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from webhook_app.accounts import graph
from webhook_app.accounts import store as accounts
from webhook_app.db import Database
from webhook_app.tokens import credentials, reauth, tiktok_tokens
from webhook_app.tokens.credentials import TokenUnavailable, open_token
from webhook_app.tokens.vault import Vault

log = logging.getLogger(__name__)

METHODS = {"meta": "fb_exchange_token", "whatsapp": "fb_exchange_token", "instagram": "ig_refresh_token",
           "tiktok": "tiktok_refresh_token"}
CLAIM_SECONDS = 600
# After a transient or rate-limit failure the account is left for the next daily run.
RETRY_LATER_SECONDS = 3600


@dataclass
class Clients:
    """The provider clients one worker uses (requests sessions are not shared between threads).

    `db` is where a TikTok refresh takes its row lock (the one writer of each TikTok account).
    """

    meta: graph.GraphClient
    instagram: graph.InstagramClient
    tiktok: graph.TikTokClient
    db: Database | None = None

    @classmethod
    def from_settings(cls, settings, db: Database | None = None, **kw) -> "Clients":
        http = {k: v for k, v in kw.items() if k not in ("slow_down_at", "max_slowdown")}  # Graph-only options
        return cls(graph.meta_client(settings, **kw), graph.instagram_client(settings, **kw),
                   graph.tiktok_client(settings, **http), db)


@dataclass
class Outcome:
    """What one refresh attempt did; `error_code` and `message` never hold a token."""

    kind: str
    account_id: int
    user_id: int
    name: str
    method: str
    outcome: str            # refreshed, needs_reauth, rate_limited, transient, failed
    error_code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    duration_ms: int = 0

    def as_dict(self) -> dict:
        return {"account": f"{self.kind}-{self.account_id}", "method": self.method, "outcome": self.outcome,
                "error_code": self.error_code, "message": self.message, "duration_ms": self.duration_ms}


# What an attempt leaves to write: named queries and their parameters.
Writes = list[tuple[str, dict]]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _window_seconds(window: int | timedelta) -> float:
    """A refresh window given in days (TOKEN_REFRESH_WINDOW_DAYS) or as a timedelta, in seconds."""
    return window.total_seconds() if isinstance(window, timedelta) else window * 86400.0


def claim_due(db: Database, window: int | timedelta, limit: int, run_started_at: datetime,
              lease_seconds: int = CLAIM_SECONDS, only_kind: str | None = None) -> list[dict]:
    """Claim up to `limit` tokens expiring within `window` (days, or a timedelta), soonest first; others skip them."""
    return db.all("claim_tokens_to_refresh", window_seconds=_window_seconds(window), limit=limit,
                  lease_seconds=lease_seconds, run_started_at=run_started_at, account_id=None, kind=None,
                  user_id=None, only_kind=only_kind)


def list_due(db: Database, window: int | timedelta, only_kind: str | None = None) -> list[dict]:
    """What a run would refresh now, without claiming or changing anything (the claim is rolled back)."""
    with db.transaction(rollback=True) as tx:
        return tx.all("claim_tokens_to_refresh", window_seconds=_window_seconds(window), limit=None,
                      lease_seconds=0, run_started_at=_now(), account_id=None, kind=None, user_id=None,
                      only_kind=only_kind)


def claim_account(db: Database, user_id: int, account_id: str) -> dict | None:
    """Claim one of the user's accounts for an immediate refresh (None: not refreshable or busy)."""
    kind, row_id = accounts.parse_account_id(account_id)
    if kind == "instagram":
        parent = db.one("meta_account_of_instagram", id=row_id, user_id=user_id)
        if parent is not None:  # reached through a Page: refreshing the Facebook login renews its token
            kind, row_id = "meta", parent["meta_account_id"]
    rows = db.all("claim_tokens_to_refresh", window_seconds=0, limit=1, lease_seconds=CLAIM_SECONDS,
                  run_started_at=_now(), account_id=row_id, kind=kind, user_id=user_id, only_kind=None)
    return rows[0] if rows else None


def refresh(db: Database, vault: Vault, clients: Clients, row: dict) -> Outcome:
    """Refresh one claimed account now: ask the provider, then write the outcome and its log row."""
    outcome, writes = attempt(vault, clients, row)
    record(db, [(outcome, writes)])
    return outcome


def attempt(vault: Vault, clients: Clients, row: dict) -> tuple[Outcome, Writes]:
    """Ask the provider about one claimed account; returns what happened and what to write (nothing written yet).

    The writes are the new token (or the account's new status) and the log row; `record` puts them in the
    database in one transaction.
    """
    kind = row["kind"]
    outcome = Outcome(kind, row["id"], row["user_id"], row["name"], METHODS[kind], "refreshed")
    started = time.perf_counter()
    try:
        writes = _REFRESHERS[kind](vault, clients, row)
    except (graph.ReauthorizationRequired, TokenUnavailable) as exc:
        outcome.outcome = "needs_reauth"
        _failed(outcome, exc)
        writes = [("mark_needs_reauth", {"credential_id": row["credential_id"], "reason": reauth.for_error(kind, exc)})]
    except graph.GraphError as exc:
        # Rate limits and transient failures wait for the next run; anything else (a bug, a bad parameter) is
        # not the user's to fix either: the account is left as it is and an operator reads the log.
        outcome.outcome = ("rate_limited" if isinstance(exc, graph.RateLimited)
                           else "transient" if isinstance(exc, graph.Transient) else "failed")
        outcome.retry_after = getattr(exc, "retry_after", None)
        _failed(outcome, exc)
        writes = [("defer_token_refresh", {"credential_id": row["credential_id"],
                                            "retry_seconds": RETRY_LATER_SECONDS})]
    outcome.duration_ms = int((time.perf_counter() - started) * 1000)
    writes.append(("log_token_refresh", {
        "user_id": row["user_id"], "kind": kind, "account_id": row["id"], "method": outcome.method,
        "outcome": outcome.outcome, "error_code": outcome.error_code, "error_message": outcome.message,
        "duration_ms": outcome.duration_ms}))
    return outcome, writes


def record(db: Database, attempts: list[tuple[Outcome, Writes]]) -> None:
    """Write several attempts' outcomes and log rows in one transaction, each statement sent in batches."""
    by_statement: dict[str, list[dict]] = {}
    for _, writes in attempts:
        for name, params in writes:
            by_statement.setdefault(name, []).append(params)
    with db.transaction() as tx:
        for name, rows in by_statement.items():
            tx.run_many(name, rows)
    for outcome, _ in attempts:
        log.info("token refresh %s-%s (%s): %s%s", outcome.kind, outcome.account_id, outcome.method,
                 outcome.outcome, f" code={outcome.error_code}" if outcome.error_code else "")


def _failed(outcome: Outcome, exc: Exception) -> None:
    code = getattr(exc, "code", None)
    subcode = getattr(exc, "subcode", None)
    outcome.error_code = None if code is None else f"{code}/{subcode}" if subcode else str(code)
    outcome.message = (getattr(exc, "message", None) or str(exc))[:500]


def _saved(vault: Vault, row: dict, fresh: dict, refresh_token: str | None = None) -> tuple[str, dict]:
    return ("save_refreshed_token", {
        "credential_id": row["credential_id"], "expires_at": accounts.expires_from(fresh.get("expires_in")),
        "refresh_expires_at": accounts.expires_from(fresh.get("refresh_expires_in")) if refresh_token else None,
        **vault.seal_columns("access_token", fresh["access_token"]),
        **vault.seal_columns("refresh_token", refresh_token)})


def _refresh_user_token(vault: Vault, clients: Clients, row: dict) -> Writes:
    """`fb_exchange_token` again; a Facebook login's Page tokens are derived again from the new token."""
    fresh = clients.meta.long_lived_token(open_token(vault, row))
    pages = []
    if row["kind"] == "meta":
        pages = list(clients.meta.paginate("/me/accounts", fresh["access_token"], limit=100,
                                           fields="id,access_token"))
    return [("save_page_token", {"meta_account_id": row["id"], "page_id": page["id"],
                                 **vault.seal_columns("access_token", page["access_token"])})
            for page in pages if page.get("access_token")] + [_saved(vault, row, fresh)]


def _refresh_instagram(vault: Vault, clients: Clients, row: dict) -> Writes:
    return [_saved(vault, row, clients.instagram.refresh_token(open_token(vault, row)))]


def _refresh_tiktok(vault: Vault, clients: Clients, row: dict) -> Writes:
    """Under the credential's row lock; a refresher that got there first (its rotated token is stored) wins."""
    if clients.db is None:
        raise RuntimeError("a TikTok refresh needs Clients.db for its row lock")
    done = tiktok_tokens.refresh(clients.db, vault, clients.tiktok, row["credential_id"],
                                 unless_valid_for=None, unless_changed_from=row["refresh_token_ciphertext"])
    if done.outcome == "needs_reauth":
        raise done.error
    # Stored in the locked transaction already; only the claim is left to release.
    return [("defer_token_refresh", {"credential_id": row["credential_id"], "retry_seconds": 0})]


_REFRESHERS: dict[str, Callable[[Vault, Clients, dict], Writes]] = {
    "meta": _refresh_user_token, "whatsapp": _refresh_user_token,
    "instagram": _refresh_instagram, "tiktok": _refresh_tiktok,
}


RECONNECT_PATHS = {"meta": "/connect/meta", "instagram": "/connect/meta", "whatsapp": "/connect/whatsapp",
                   "tiktok": "/connect/tiktok"}


def reconnect_path(row: dict) -> str:
    """Where the user connects this account again: an Instagram Login account by Instagram Login."""
    if row["kind"] == "instagram" and row.get("token_kind") == "instagram_login":
        return "/connect/instagram"
    return RECONNECT_PATHS[row["kind"]]


def reauth_banners(db: Database, user_id: int, window_days: int = credentials.DEFAULT_WINDOW_DAYS) -> list[dict]:
    """The user's accounts whose status (credentials.status) is needs_reauth, each with its Reconnect link."""
    return [{"id": f"{r['kind']}-{r['id']}", "kind": r["kind"], "name": r["name"],
             "reason": r["status_reason"] or reauth.message(r["kind"]),
             "reconnect": reconnect_path(r)}
            for r in credentials.accounts_of(db, user_id) if credentials.status(r, window_days) == "needs_reauth"]
