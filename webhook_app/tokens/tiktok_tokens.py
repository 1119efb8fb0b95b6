"""TikTok's 2-hour access tokens (SPEC 9): refreshed before a call when they expire within 10 minutes, one writer
at a time.

Each refresh returns a new refresh token and voids the old one, so two processes refreshing the same
account at once would leave one of them holding a dead token and the account locked out. Every TikTok
refresh (before a call, the 30-minute timer, the daily job, the Fix button) therefore goes through
`refresh`: it locks the credential row (SELECT ... FOR UPDATE), looks again at what is stored, calls
TikTok only if the token still needs it, and stores the new access token and the rotated refresh token
in that same transaction. A second refresher waits on the lock and then finds the fresh token.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from webhook_app.accounts import graph
from webhook_app.accounts.store import expires_from
from webhook_app.db import Database
from webhook_app.tokens import reauth
from webhook_app.tokens.credentials import TokenUnavailable, open_token
from webhook_app.tokens.vault import Vault

log = logging.getLogger(__name__)

REFRESH_BEFORE = timedelta(minutes=10)


@dataclass
class Refreshed:
    """What `refresh` did: refreshed, fresh (another writer already had), or needs_reauth (TikTok refused)."""

    outcome: str
    token: str | None = None
    error: graph.GraphError | None = None


def _usable_for(row: dict, margin: timedelta) -> bool:
    ends = row.get("expires_at")
    return bool(row.get("access_token_ciphertext")) and ends is not None and ends > datetime.now(timezone.utc) + margin


def refresh(db: Database, vault: Vault, client: graph.TikTokClient, credential_id: int, *,
            unless_valid_for: timedelta | None = REFRESH_BEFORE, unless_changed_from: bytes | None = None) -> Refreshed:
    """Refresh one TikTok credential under its row lock, unless its access token is good for `unless_valid_for`
    or its refresh token is no longer the one the caller read (`unless_changed_from`: another writer rotated it).

    Transient and rate-limit failures propagate with nothing changed; a refusal (invalid_grant ...) marks the
    account needs_reauth in the same transaction and is returned, not raised.
    """
    with db.transaction() as tx:
        row = tx.one("lock_tiktok_credential", credential_id=credential_id)
        if row is None:
            raise TokenUnavailable("the TikTok account is gone")
        rotated = unless_changed_from is not None and bytes(row["refresh_token_ciphertext"] or b"") != bytes(
            unless_changed_from)
        if rotated or (unless_valid_for is not None and _usable_for(row, unless_valid_for)):
            return Refreshed("fresh", open_token(vault, row))
        refresh_token = open_token(vault, row, "refresh_token")
        try:
            fresh = client.refresh(refresh_token)
        except graph.ReauthorizationRequired as exc:
            tx.run("mark_needs_reauth", credential_id=credential_id, reason=reauth.for_error("tiktok", exc))
            return Refreshed("needs_reauth", error=exc)
        # The rotated refresh token is stored with the access token, before the lock is let go.
        new_refresh = fresh.get("refresh_token")
        tx.run("save_refreshed_token", credential_id=credential_id,
               expires_at=expires_from(fresh.get("expires_in")),
               refresh_expires_at=expires_from(fresh.get("refresh_expires_in")) if new_refresh else None,
               **vault.seal_columns("access_token", fresh["access_token"]),
               **vault.seal_columns("refresh_token", new_refresh))
        return Refreshed("refreshed", fresh["access_token"])


def access_token(db: Database, vault: Vault, client: graph.TikTokClient, row: dict, *, renew: bool = False) -> str:
    """A TikTok access token good for at least 10 more minutes, refreshed first when it is not (SPEC 9).

    `row` is an account row with its credential (account_credentials or a data-sync row); `renew=True` refreshes
    even a token that should still be good (TikTok refused it early) unless another writer just did. Raises
    TokenUnavailable when the account must be connected again, a GraphError when TikTok could not be reached.
    """
    if not renew and _usable_for(row, REFRESH_BEFORE):
        return open_token(vault, row)
    started = time.perf_counter()
    done = refresh(db, vault, client, row["credential_id"], unless_valid_for=None if renew else REFRESH_BEFORE,
                   unless_changed_from=row.get("refresh_token_ciphertext") if renew else None)
    if done.outcome != "fresh":  # another writer's refresh was logged by it
        db.run("log_token_refresh", user_id=row["user_id"], kind="tiktok", account_id=row["id"],
               method="tiktok_refresh_token", outcome=done.outcome, error_code=getattr(done.error, "code", None),
               error_message=getattr(done.error, "message", None),
               duration_ms=int((time.perf_counter() - started) * 1000))
    if done.outcome == "needs_reauth":
        raise TokenUnavailable(reauth.for_error("tiktok", done.error))
    log.info("tiktok-%s: access token refreshed before use (%s)", row["id"], done.outcome)
    return done.token
