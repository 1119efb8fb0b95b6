"""Token health (SPEC 6, 9): what Meta's `debug_token` (or TikTok) says about each account's token, cached.

The cache is the `token_health` table, shared by every worker and job; an entry is fresh for
`settings.token_health_cache_seconds` (5 minutes). A token Meta calls invalid marks its account
`needs_reauth`, exactly as a refused refresh does.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Iterator

from webhook_app.accounts import store as accounts
from webhook_app.accounts import graph
from webhook_app.db.pool import Database
from webhook_app.tokens.refresh import RECONNECT_PATHS, Clients
from webhook_app.tokens.vault import Vault

log = logging.getLogger(__name__)


def _when(epoch) -> datetime | None:
    """Meta's epoch seconds (0: never) as a datetime."""
    try:
        epoch = int(epoch)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch > 0 else None


def targets(db: Database, user_id: int | None, batch: int = 500) -> Iterator[dict]:
    """Every account (of one user, or of everyone) with its sealed token and cached health, in batches."""
    after_kind, after_id = "", 0
    while True:
        rows = db.all("token_health_targets", user_id=user_id, after_kind=after_kind, after_id=after_id, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after_kind, after_id = rows[-1]["kind"], rows[-1]["id"]


def is_fresh(row: dict, cache_seconds: int) -> bool:
    checked = row.get("checked_at")
    return checked is not None and checked > datetime.now(timezone.utc) - timedelta(seconds=cache_seconds)


def validate(db: Database, vault: Vault, clients: Clients, row: dict) -> dict:
    """Ask Meta (debug_token) or TikTok about one account's token, cache the answer, flag a dead token."""
    check = {"is_valid": False, "expires_at": None, "data_access_expires_at": None, "scopes": [],
             "error_code": None, "error_message": None}
    try:
        token = accounts.open_token(vault, row)
        if row["kind"] == "tiktok":
            clients.tiktok.user_info(token, fields="open_id")
            check.update(is_valid=True, expires_at=row["expires_at"])
        else:
            data = clients.meta.debug_token(token)
            error = data.get("error") or {}
            check.update(is_valid=bool(data.get("is_valid")), expires_at=_when(data.get("expires_at")),
                         data_access_expires_at=_when(data.get("data_access_expires_at")),
                         scopes=list(data.get("scopes") or []),
                         error_code=_code(error.get("code"), error.get("subcode")), error_message=error.get("message"))
    except accounts.TokenUnavailable as exc:
        check.update(error_code="unavailable", error_message=str(exc))
    except graph.ReauthorizationRequired as exc:
        check.update(error_code=_code(exc.code, exc.subcode), error_message=exc.message)
    except graph.GraphError as exc:
        # Meta could not tell us (throttled, down): nothing is cached, the account stays as it is.
        log.warning("token health of %s-%s not checked: %s", row["kind"], row["id"], exc.__class__.__name__)
        return {**row, "is_valid": None, "error_code": _code(exc.code, exc.subcode),
                "error_message": f"Could not check the token now: {exc.message}", "checked_at": None}
    db.run("save_token_health", user_id=row["user_id"], kind=row["kind"], account_id=row["id"], **check)
    if not check["is_valid"] and row["status"] != "needs_reauth" and _needs_reauth(row, check):
        reason = f"{check['error_message'] or 'The token is no longer valid'}; connect the account again."
        db.one("mark_needs_reauth", kind=row["kind"], id=row["id"], reason=reason[:500])
        row = {**row, "status": "needs_reauth", "status_reason": reason[:500]}
    return {**row, **{("checked_expires_at" if k == "expires_at" else "checked_scopes" if k == "scopes" else k): v
                      for k, v in check.items()}, "checked_at": datetime.now(timezone.utc)}


def _needs_reauth(row: dict, check: dict) -> bool:
    if check["error_code"] == "unavailable":
        return True
    # TikTok's day-long access token lapsing is the refresh job's business, not the user's.
    return row["kind"] != "tiktok" or (row["expires_at"] is not None and row["expires_at"] <= datetime.now(timezone.utc))


def _code(code, subcode) -> str | None:
    if code is None:
        return None
    return f"{code}/{subcode}" if subcode else str(code)


def status_of(row: dict, window_days: int) -> str:
    """active, expiring, needs_reauth or inactive, from the stored status, the check and the expiry."""
    if row["status"] == "needs_reauth":
        return "needs_reauth"
    if row["status"] == "inactive" or row.get("access_token_ciphertext") is None:
        return "inactive"
    expires = row.get("checked_expires_at") or row.get("expires_at")
    now = datetime.now(timezone.utc)
    if expires is not None and expires <= now:
        return "needs_reauth"
    if expires is not None and expires <= now + timedelta(days=window_days):
        return "expiring"
    return "active"


def _iso(value):
    return value.isoformat() if value is not None else None


def report(row: dict, window_days: int, cached: bool) -> dict:
    """One account's token health as the API shows it (never the token)."""
    status = status_of(row, window_days)
    return {"id": f"{row['kind']}-{row['id']}", "kind": row["kind"], "name": row["name"], "status": status,
            "status_reason": row.get("status_reason"), "is_valid": row.get("is_valid"),
            "expires_at": _iso(row.get("checked_expires_at") or row.get("expires_at")),
            "data_access_expires_at": _iso(row.get("data_access_expires_at")),
            "scopes": list(row.get("checked_scopes") or []),
            "error": {"code": row["error_code"], "message": row["error_message"]} if row.get("error_code") else None,
            "checked_at": _iso(row.get("checked_at")), "cached": cached,
            "reconnect": RECONNECT_PATHS[row["kind"]] if status == "needs_reauth" else None}


def user_health(db: Database, vault: Vault, clients: Clients, user_id: int, *, window_days: int,
                cache_seconds: int, force: bool = False) -> list[dict]:
    """Every account of the user: from the cache while it is fresh, else (or when forced) asked again."""
    out = []
    for row in targets(db, user_id):
        if not force and is_fresh(row, cache_seconds):
            out.append(report(row, window_days, cached=True))
        else:
            out.append(report(validate(db, vault, clients, row), window_days, cached=False))
    return out


def clear_cache(db: Database, user_id: int) -> int:
    return db.run("clear_token_health", user_id=user_id)
