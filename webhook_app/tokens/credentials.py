"""Credentials: every connected account's token, stored once (`credentials`), its status rule, and opening it.

A row read through the `account_credentials` view (every query that hands a token or a status to Python
reads it) carries what the rule needs: kind, the stored status, has_token, expires_at, refresh_expires_at
and checked_expires_at (what debug_token last said).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator

from webhook_app.config import DEFAULTS
from webhook_app.db import Database
from webhook_app.exceptions import InstaConnectError
from webhook_app.tokens.vault import Vault, VaultError

STATUSES = ("active", "expiring", "needs_reauth", "inactive")
DEFAULT_WINDOW_DAYS = DEFAULTS.token_refresh_window_days  # TOKEN_REFRESH_WINDOW_DAYS when no setting is at hand


class TokenUnavailable(InstaConnectError):
    """The account's token cannot be used: the user must connect again."""


def accounts_of(db: Database, user_id: int | None, batch: int = 500) -> Iterator[dict]:
    """Every account (of one user, or of everyone) with the sealed token it uses and its cached health."""
    after_kind, after_id = "", 0
    while True:
        rows = db.all("token_health_targets", user_id=user_id, after_kind=after_kind, after_id=after_id, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after_kind, after_id = rows[-1]["kind"], rows[-1]["id"]


def lifetime_end(row: dict) -> datetime | None:
    """When the account stops working without the user: Meta's checked expiry, else the stored one.

    TikTok's 2-hour access token is renewed automatically, so its refresh token's end is what counts.
    """
    if row["kind"] == "tiktok":
        return row.get("refresh_expires_at")
    return row.get("checked_expires_at") or row.get("expires_at")


def status(row: dict, window_days: int = DEFAULT_WINDOW_DAYS, now: datetime | None = None) -> str:
    """The one status rule: active, expiring, needs_reauth or inactive.

    A stored needs_reauth wins; no usable token (or a stored inactive) is inactive; a passed end of life is
    needs_reauth; one within the refresh window is expiring; anything else is active.
    """
    if row.get("status") == "needs_reauth":
        return "needs_reauth"
    if row.get("status") == "inactive" or not row.get("has_token"):
        return "inactive"
    ends = lifetime_end(row)
    now = now or datetime.now(timezone.utc)
    if ends is not None and ends <= now:
        return "needs_reauth"
    if ends is not None and ends <= now + timedelta(days=window_days):
        return "expiring"
    return "active"


def open_token(vault: Vault, row: dict, secret: str = "access_token") -> str:
    """The plaintext token of an account row, or TokenUnavailable (never the ciphertext)."""
    if status(row) == "needs_reauth":
        raise TokenUnavailable("the account must be connected again")
    try:
        return vault.open(row.get(f"{secret}_ciphertext"), row.get(f"{secret}_key_id"))
    except VaultError as exc:
        raise TokenUnavailable(f"the stored {secret.replace('_', ' ')} cannot be used: {exc}") from None


def store(tx, vault: Vault, *, user_id: int, kind: str, account_id: int, token_kind: str, token: str | None,
          expires_at: datetime | None = None, scopes: list[str] | None = None,
          data_access_expires_at: datetime | None = None, refresh_token: str | None = None,
          refresh_expires_at: datetime | None = None) -> None:
    """Seal and store the token a connect flow got, in the caller's transaction; the credential is active again.

    A missing token (or refresh token) keeps the one stored; `scopes=None` keeps the stored scopes.
    """
    tx.run("upsert_credential", user_id=user_id, kind=kind, account_id=account_id, token_kind=token_kind,
           scopes=scopes, expires_at=expires_at, data_access_expires_at=data_access_expires_at,
           refresh_expires_at=refresh_expires_at if refresh_token else None,
           **vault.seal_columns("access_token", token), **vault.seal_columns("refresh_token", refresh_token))


def flag_for_reauth(db: Database, credential_id: int, reason: str) -> None:
    """Meta refused the token in a call (error 190): the account must be connected again (its banner says why)."""
    db.run("mark_needs_reauth", credential_id=credential_id, reason=reason[:500])
