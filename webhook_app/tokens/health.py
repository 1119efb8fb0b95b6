"""Token health (SPEC 6, 9): what Meta's `debug_token` (or TikTok) says about each account's token, cached.

The cache is the `token_health` table, shared by every worker and job; an entry is fresh for
`settings.token_health_cache_seconds` (5 minutes). A token Meta calls invalid marks its account
`needs_reauth`, exactly as a refused refresh does.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from webhook_app.accounts import graph
from webhook_app.db import Database
from webhook_app.tokens import credentials, reauth, tiktok_tokens
from webhook_app.tokens.credentials import TokenUnavailable, open_token
from webhook_app.tokens.refresh import Clients, reconnect_path
from webhook_app.tokens.vault import Vault
from webhook_app.web.serialize import iso

log = logging.getLogger(__name__)


def _when(epoch) -> datetime | None:
    """Meta's epoch seconds (0: never) as a datetime."""
    try:
        epoch = int(epoch)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch > 0 else None



def is_fresh(row: dict, cache_seconds: int) -> bool:
    checked = row.get("checked_at")
    return checked is not None and checked > datetime.now(timezone.utc) - timedelta(seconds=cache_seconds)


def validate(db: Database, vault: Vault, clients: Clients, row: dict) -> dict:
    """Ask Meta (debug_token) or TikTok about one account's token, cache the answer, flag a dead token."""
    check = {"is_valid": False, "expires_at": None, "data_access_expires_at": None, "scopes": [],
             "error_code": None, "error_message": None}
    reason = None
    try:
        if row["kind"] == "tiktok":
            # Refreshed first when it expires within 10 minutes, like any other TikTok call.
            try:
                clients.tiktok.user_info(tiktok_tokens.access_token(db, vault, clients.tiktok, row), fields="open_id")
            except graph.ReauthorizationRequired as exc:
                if exc.code != "access_token_invalid":
                    raise
                # Refused before its time: renewed once and asked again; a second refusal is the account's.
                renewed = tiktok_tokens.access_token(db, vault, clients.tiktok, row, renew=True)
                clients.tiktok.user_info(renewed, fields="open_id")
            check.update(is_valid=True, expires_at=row["refresh_expires_at"])
        else:
            data = clients.meta.debug_token(open_token(vault, row))
            error = data.get("error") or {}
            reason = reauth.message(row["kind"], error.get("code"), error.get("subcode")) if error else None
            check.update(is_valid=bool(data.get("is_valid")), expires_at=_when(data.get("expires_at")),
                         data_access_expires_at=_when(data.get("data_access_expires_at")),
                         scopes=list(data.get("scopes") or []),
                         error_code=_code(error.get("code"), error.get("subcode")), error_message=error.get("message"))
    except TokenUnavailable as exc:
        check.update(error_code="unavailable", error_message=str(exc))
        reason = str(exc) if row["kind"] == "tiktok" else reauth.UNAVAILABLE
    except graph.ReauthorizationRequired as exc:
        check.update(error_code=_code(exc.code, exc.subcode), error_message=exc.message)
        reason = reauth.for_error(row["kind"], exc)
    except graph.GraphError as exc:
        # Meta could not tell us (throttled, down): nothing is cached, the account stays as it is.
        log.warning("token health of %s-%s not checked: %s", row["kind"], row["id"], exc.__class__.__name__)
        return {**row, "is_valid": None, "error_code": _code(exc.code, exc.subcode),
                "error_message": f"Could not check the token now: {exc.message}", "checked_at": None}
    db.run("save_token_health", user_id=row["user_id"], kind=row["kind"], account_id=row["id"],
           credential_id=row["credential_id"], **check)
    if not check["is_valid"] and row["status"] != "needs_reauth" and _needs_reauth(row, check):
        # The credential the account uses: an Instagram account reached through a Page flags its Page's token.
        reason = reason or reauth.message(row["kind"])
        db.run("mark_needs_reauth", credential_id=row["credential_id"], reason=reason[:500])
        row = {**row, "status": "needs_reauth", "status_reason": reason[:500]}
    return {**row, **{_CHECKED.get(k, k): v for k, v in check.items()}, "checked_at": datetime.now(timezone.utc)}


# The cache's names in a row of account_credentials.
_CHECKED = {"expires_at": "checked_expires_at", "data_access_expires_at": "checked_data_access_expires_at",
            "scopes": "checked_scopes"}


def _needs_reauth(row: dict, check: dict) -> bool:
    if check["error_code"] == "unavailable":
        # A stored token that cannot be opened needs the user; no token at all is inactive, not a re-auth.
        return bool(row["has_token"])
    # TikTok's 2-hour access token was renewed before the check (and once more if refused early): a refusal now
    # is about the account, as for Meta.
    return True


def _code(code, subcode) -> str | None:
    if code is None:
        return None
    return f"{code}/{subcode}" if subcode else str(code)


def report(row: dict, window_days: int, cached: bool) -> dict:
    """One account's token health as the API shows it (never the token)."""
    status = credentials.status(row, window_days)
    return {"id": f"{row['kind']}-{row['id']}", "kind": row["kind"], "name": row["name"], "status": status,
            "status_reason": row.get("status_reason"), "is_valid": row.get("is_valid"),
            "expires_at": iso(credentials.lifetime_end(row)),
            "data_access_expires_at": iso(row.get("checked_data_access_expires_at")),
            "scopes": list(row.get("checked_scopes") or []),
            "error": {"code": row["error_code"], "message": row["error_message"]} if row.get("error_code") else None,
            "checked_at": iso(row.get("checked_at")), "cached": cached,
            "reconnect": reconnect_path(row) if status == "needs_reauth" else None}


def user_health(db: Database, vault: Vault, clients: Clients, user_id: int, *, window_days: int,
                cache_seconds: int, force: bool = False) -> list[dict]:
    """Every account of the user: from the cache while it is fresh, else (or when forced) asked again."""
    out = []
    for row in credentials.accounts_of(db, user_id):
        if not force and is_fresh(row, cache_seconds):
            out.append(report(row, window_days, cached=True))
        else:
            out.append(report(validate(db, vault, clients, row), window_days, cached=False))
    return out


def clear_cache(db: Database, user_id: int) -> int:
    return db.run("clear_token_health", user_id=user_id)


def check_stale(db: Database, vault: Vault, clients: Clients, *, cache_seconds: int, window_days: int,
                batch: int = 100, pause: float = 0.0, stop=None) -> Counter:
    """Validate every account whose cached answer is stale (the monitor job); counts by status and 'cached'."""
    counts: Counter = Counter()
    for i, row in enumerate(credentials.accounts_of(db, None, batch=batch)):
        if stop is not None and stop.is_set():
            break
        if is_fresh(row, cache_seconds):
            counts["cached"] += 1
            continue
        checked = validate(db, vault, clients, row)
        counts["unchecked" if checked["is_valid"] is None else credentials.status(checked, window_days)] += 1
        if pause and (i + 1) % batch == 0:
            time.sleep(pause)  # spread a large fleet's checks out between batches
    return counts
