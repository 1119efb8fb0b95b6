"""Connected accounts: store, read, select and disconnect them; tokens sealed and opened by the vault.

Views and jobs call it (only the accounts package names the queries of sql/accounts.sql). It never
returns a token to a caller that did not ask for one (`open_token`), and never returns ciphertext at
all. Tokens are stored in `credentials` (webhook_app/tokens/credentials.py), with the status rule.
Account ids seen by the API are `<kind>-<row id>`: meta-3, instagram-5, whatsapp-2, tiktok-1. An Instagram
account is reached through a Facebook Page (token_kind 'page') or by Instagram Login ('instagram_login').
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from webhook_app.accounts.graph import GraphClient, GraphError, ReauthorizationRequired, TikTokClient
from webhook_app.db import Database
from webhook_app.exceptions import InstaConnectError
from webhook_app.tokens import credentials

# Callers catch and open through this module, as before the credentials moved.
from webhook_app.tokens.credentials import TokenUnavailable, open_token  # noqa: F401
from webhook_app.tokens.vault import Vault
from webhook_app.web.params import database_id
from webhook_app.web.serialize import iso
from webhook_app.webhooks import adoption

log = logging.getLogger(__name__)

# What a selected Page sends us (Messenger-platform fields cover the linked Instagram account too).
PAGE_WEBHOOK_FIELDS = ("messages", "messaging_postbacks", "message_reactions", "message_echoes", "feed", "mention")
ACCOUNT_KINDS = ("meta", "instagram", "whatsapp", "tiktok")


class OwnedByAnotherUser(InstaConnectError):
    """Another user connected this Meta object first (SPEC 14); the message names it for the user."""

    def __init__(self, what: str, name: str, external_id: str):
        label = f"{what} \u201c{name}\u201d ({external_id})" if name else f"{what} {external_id}"
        super().__init__(f"The {label} is already connected by another user of this service and stays with "
                         "them. Nothing was stored; ask them to disconnect it first.")
        self.external_id = external_id


def _claim_route(tx, user_id: int, external_id: str, kind: str, what: str, name: str | None) -> None:
    """Route the id's webhooks to the user, or refuse (rolling back the whole connect) if another user has it."""
    if tx.one("upsert_account_route", external_id=external_id, user_id=user_id, kind=kind) is None:
        raise OwnedByAnotherUser(what, name or "", external_id)


class AccountNotFound(InstaConnectError):
    """No such account for this user (someone else's id looks exactly the same)."""


def expires_from(seconds) -> datetime | None:
    """An absolute expiry from Meta's / TikTok's `expires_in` (0 or missing: does not expire)."""
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return None
    return datetime.now(timezone.utc) + timedelta(seconds=seconds) if seconds > 0 else None


def epoch(value) -> datetime | None:
    """Meta's epoch seconds (debug_token's expires_at, data_access_expires_at; 0: never) as a datetime."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(value, timezone.utc) if value > 0 else None


def parse_account_id(account_id: str) -> tuple[str, int]:
    kind, _, number = account_id.partition("-")
    row_id = database_id(number)
    if kind not in ACCOUNT_KINDS or row_id is None:
        raise AccountNotFound(account_id)
    return kind, row_id


# ---- storing what a connect flow fetched --------------------------------------------------------

@dataclass
class MetaLogin:
    """What Facebook Login gave us: the person, the long-lived token, Pages and Instagram accounts."""

    meta_user_id: str
    name: str
    token: str
    expires_in: int | None
    scopes: list[str]
    pages: list[dict]            # id, name, category, access_token, instagram (dict or None)
    data_access_expires_at: datetime | None = None   # debug_token: when Meta stops sharing the user's data


def store_meta_login(db: Database, vault: Vault, user_id: int, login: MetaLogin) -> dict:
    """Store (or update in place) a Facebook login with its Pages and Instagram accounts, in one transaction."""
    expires_at = expires_from(login.expires_in)
    counts = {"pages": 0, "instagram": 0}
    with db.transaction() as tx:
        meta_account_id = tx.one("upsert_meta_account", user_id=user_id, meta_user_id=login.meta_user_id,
                                 display_name=login.name)["id"]
        credentials.store(tx, vault, user_id=user_id, kind="meta", account_id=meta_account_id,
                          token_kind="long_lived_user", token=login.token, expires_at=expires_at, scopes=login.scopes,
                          data_access_expires_at=login.data_access_expires_at)
        keep_pages, keep_ig = [], []
        for page in login.pages:
            page_row = tx.one("upsert_page", user_id=user_id, meta_account_id=meta_account_id, page_id=page["id"],
                              display_name=page.get("name", ""), category=page.get("category"))["id"]
            credentials.store(tx, vault, user_id=user_id, kind="page", account_id=page_row, token_kind="page",
                              token=page.get("access_token"))
            keep_pages.append(page["id"])
            _claim_route(tx, user_id, page["id"], "page", "Facebook Page", page.get("name"))
            counts["pages"] += 1
            ig = page.get("instagram")
            if ig:
                tx.run("upsert_instagram_account", user_id=user_id, page_id=page_row, ig_user_id=ig["id"],
                       username=ig.get("username", ""), display_name=ig.get("name"),
                       profile_picture_url=ig.get("profile_picture_url"),
                       followers_count=ig.get("followers_count"), media_count=ig.get("media_count"),
                       token_kind="page")
                keep_ig.append(ig["id"])
                _claim_route(tx, user_id, ig["id"], "instagram", "Instagram account",
                             f"@{ig['username']}" if ig.get("username") else None)
                counts["instagram"] += 1
        # Pages and Instagram accounts no longer granted are forgotten, with their routes.
        gone = [r["ig_user_id"] for r in tx.all("delete_page_instagram_not_in", meta_account_id=meta_account_id,
                                                keep=keep_ig)]
        gone += [r["page_id"] for r in tx.all("delete_pages_not_in", meta_account_id=meta_account_id, keep=keep_pages)]
        if gone:
            tx.run("delete_account_routes", user_id=user_id, external_ids=gone)
        # Events that arrived before these were connected are theirs now (SPEC 7).
        counts["adopted_events"] = adoption.adopt(tx, user_id, keep_pages + keep_ig)
    counts["meta_account_id"] = meta_account_id
    return counts


def store_whatsapp_account(db: Database, vault: Vault, user_id: int, *, waba: dict, phone_numbers: list[dict],
                           token: str, expires_in, scopes: list[str], subscribed_fields: list[str],
                           data_access_expires_at: datetime | None = None) -> int:
    """Store a WhatsApp Business account, its phone numbers, routes and webhook subscription."""
    with db.transaction() as tx:
        account_id = tx.one("upsert_whatsapp_account", user_id=user_id, waba_id=waba["id"],
                            display_name=waba.get("name", ""), currency=waba.get("currency"),
                            timezone_id=waba.get("timezone_id"),
                            message_template_namespace=waba.get("message_template_namespace"))["id"]
        credentials.store(tx, vault, user_id=user_id, kind="whatsapp", account_id=account_id,
                          token_kind="long_lived_user", token=token, expires_at=expires_from(expires_in), scopes=scopes,
                          data_access_expires_at=data_access_expires_at)
        _claim_route(tx, user_id, waba["id"], "whatsapp_business", "WhatsApp Business account", waba.get("name"))
        for number in phone_numbers:
            tx.run("upsert_whatsapp_phone_number", user_id=user_id, whatsapp_account_id=account_id,
                   phone_number_id=number["id"], display_phone_number=number.get("display_phone_number", ""),
                   verified_name=number.get("verified_name"), quality_rating=number.get("quality_rating"))
            _claim_route(tx, user_id, number["id"], "whatsapp_phone", "WhatsApp number",
                         number.get("display_phone_number"))
        gone = [r["phone_number_id"] for r in tx.all("delete_whatsapp_phone_numbers_not_in",
                                                     whatsapp_account_id=account_id,
                                                     keep=[n["id"] for n in phone_numbers])]
        if gone:
            tx.run("delete_account_routes", user_id=user_id, external_ids=gone)
        tx.run("start_webhook_subscription", user_id=user_id, kind="whatsapp_business", external_id=waba["id"],
               page_id=None, fields=subscribed_fields)
        adoption.adopt(tx, user_id, [waba["id"], *(n["id"] for n in phone_numbers)])
    return account_id


def store_instagram_login(db: Database, vault: Vault, user_id: int, *, ig_user_id: str, profile: dict, token: str,
                          expires_in, scopes: list[str], subscribed_fields: list[str]) -> int:
    """Store an Instagram account connected by Instagram Login: its own token, route and webhook subscription."""
    with db.transaction() as tx:
        account_id = tx.one("upsert_instagram_account", user_id=user_id, page_id=None, ig_user_id=ig_user_id,
                            username=profile.get("username", ""), display_name=profile.get("name"),
                            profile_picture_url=profile.get("profile_picture_url"),
                            followers_count=profile.get("followers_count"), media_count=profile.get("media_count"),
                            token_kind="instagram_login")["id"]
        credentials.store(tx, vault, user_id=user_id, kind="instagram", account_id=account_id,
                          token_kind="instagram_login", token=token, expires_at=expires_from(expires_in),
                          scopes=scopes)
        _claim_route(tx, user_id, ig_user_id, "instagram", "Instagram account", profile.get("username"))
        adoption.adopt(tx, user_id, [ig_user_id])
        tx.run("start_webhook_subscription", user_id=user_id, kind="instagram", external_id=ig_user_id,
               page_id=None, fields=subscribed_fields)
    return account_id


def store_tiktok_account(db: Database, vault: Vault, user_id: int, *, user: dict, tokens: dict) -> int:
    """Store a TikTok account; a missing refresh token keeps the one already stored."""
    open_id = tokens.get("open_id") or user["open_id"]
    with db.transaction() as tx:
        account_id = tx.one("upsert_tiktok_account", user_id=user_id, open_id=open_id, union_id=user.get("union_id"),
                            display_name=user.get("display_name", ""), avatar_url=user.get("avatar_url"))["id"]
        credentials.store(tx, vault, user_id=user_id, kind="tiktok", account_id=account_id, token_kind="tiktok",
                          token=tokens.get("access_token"), expires_at=expires_from(tokens.get("expires_in")),
                          scopes=[s for s in (tokens.get("scope") or "").split(",") if s],
                          refresh_token=tokens.get("refresh_token"),
                          refresh_expires_at=expires_from(tokens.get("refresh_expires_in")))
        _claim_route(tx, user_id, open_id, "tiktok", "TikTok account", user.get("display_name"))
        adoption.adopt(tx, user_id, [open_id])
    return account_id


# ---- reading ----------------------------------------------------------------------------------

def list_accounts(db: Database, user_id: int, window_days: int = credentials.DEFAULT_WINDOW_DAYS) -> list[dict]:
    """Every connected account of the user with its status; never a token."""
    out = []
    for row in db.all("list_meta_accounts", user_id=user_id):
        out.append(_account("meta", "facebook", row, row["meta_user_id"], row["name"], window_days,
                            scopes=row["scopes"]))
    for row in db.all("list_instagram_accounts", user_id=user_id):
        out.append(_account("instagram", "instagram", row, row["ig_user_id"], f"@{row['username']}", window_days,
                            page_id=row["page_external_id"], page_name=row["page_name"],
                            followers_count=row["followers_count"], media_count=row["media_count"],
                            token_kind=row["token_kind"]))
    for row in db.all("list_whatsapp_accounts", user_id=user_id):
        out.append(_account("whatsapp", "whatsapp", row, row["waba_id"], row["name"], window_days,
                            phone_numbers=row["phone_numbers"]))
    for row in db.all("list_tiktok_accounts", user_id=user_id):
        out.append(_account("tiktok", "tiktok", row, row["open_id"], row["display_name"], window_days,
                            access_expires_at=iso(row["expires_at"])))
    return out


RECONNECT = {"meta": "/connect/meta", "instagram": "/connect/meta", "whatsapp": "/connect/whatsapp",
             "tiktok": "/connect/tiktok"}


DATA_ACCESS_WARNING_DAYS = 14


def _data_access(row: dict, name: str) -> tuple[datetime | None, str | None]:
    """When Meta stops sharing this account's data (debug_token's data_access_expires_at), and a warning before."""
    ends = row.get("checked_data_access_expires_at") or row.get("data_access_expires_at")
    if ends is None:
        return None, None
    now = datetime.now(timezone.utc)
    if ends <= now:
        return ends, (f"Meta stopped sharing {name}'s data on {ends:%Y-%m-%d} (90 days after it was last "
                      "authorized): reconnect the account to renew it.")
    if ends <= now + timedelta(days=DATA_ACCESS_WARNING_DAYS):
        return ends, (f"Meta stops sharing {name}'s data on {ends:%Y-%m-%d} unless the account is reconnected "
                      "before then (data access lasts 90 days from the last authorization).")
    return ends, None


def _account(prefix: str, kind: str, row: dict, external_id: str, name: str, window_days: int, **details) -> dict:
    status = credentials.status(row, window_days)
    data_access_ends, data_access_warning = _data_access(row, name)
    reconnect = "/connect/instagram" if details.get("token_kind") == "instagram_login" else RECONNECT[prefix]
    return {"id": f"{prefix}-{row['id']}", "kind": kind, "external_id": external_id, "name": name,
            "status": status, "status_reason": row.get("status_reason"),
            "reconnect": reconnect,
            "expires_at": iso(credentials.lifetime_end(row)), "connected_at": iso(row.get("created_at")),
            "data_access_expires_at": iso(data_access_ends), "data_access_warning": data_access_warning,
            "details": details}


def list_pages(db: Database, user_id: int, window_days: int = credentials.DEFAULT_WINDOW_DAYS) -> list[dict]:
    return [{"id": r["id"], "page_id": r["page_id"], "name": r["name"], "category": r["category"],
             "status": credentials.status(r, window_days), "selected": r["is_selected"],
             "instagram": {"id": r["ig_user_id"], "username": r["instagram_username"]} if r["ig_user_id"] else None,
             "subscribed_fields": r["subscribed_fields"] or [], "subscribed_at": iso(r["subscribed_at"])}
            for r in db.all("list_pages", user_id=user_id)]


# ---- acting at Meta -----------------------------------------------------------------------------

def select_page(db: Database, vault: Vault, graph: GraphClient, user_id: int, page_row_id: int,
                fields: tuple[str, ...] = PAGE_WEBHOOK_FIELDS) -> dict:
    """Subscribe the Page to our webhook fields at Meta, record it, and make it the selected Page."""
    page = db.one("get_page", id=page_row_id, user_id=user_id)
    if page is None:
        raise AccountNotFound(f"page {page_row_id}")
    token = open_token(vault, page)
    graph.post(f"/{page['page_id']}/subscribed_apps", token, subscribed_fields=",".join(fields))
    previous = [p for p in db.all("selected_pages", user_id=user_id) if p["id"] != page["id"]]
    for old in previous:
        _unsubscribe_page(db, vault, graph, user_id, old)
    with db.transaction() as tx:
        tx.run("unselect_pages", user_id=user_id)
        tx.run("select_page", id=page["id"], user_id=user_id)
        tx.run("start_webhook_subscription", user_id=user_id, kind="page", external_id=page["page_id"],
               page_id=page["id"], fields=list(fields))
    return {"id": page["id"], "page_id": page["page_id"], "name": page["name"], "selected": True,
            "subscribed_fields": list(fields)}


def _unsubscribe_at_meta(vault: Vault, graph: GraphClient, external_id: str, row: dict) -> bool:
    """Ask Meta to stop sending this object's webhooks; a dead token means Meta already stopped."""
    try:
        graph.delete(f"/{external_id}/subscribed_apps", open_token(vault, row))
    except (TokenUnavailable, ReauthorizationRequired):
        pass
    except GraphError as exc:
        log.warning("could not unsubscribe %s at Meta: %s", external_id, exc)
        return False
    return True


def _unsubscribe_page(db: Database, vault: Vault, graph: GraphClient, user_id: int, page: dict) -> bool:
    ok = _unsubscribe_at_meta(vault, graph, page["page_id"], page)
    db.run("end_webhook_subscription", user_id=user_id, external_id=page["page_id"])
    return ok


def disconnect(db: Database, vault: Vault, user_id: int, account_id: str, *, graph: GraphClient,
               tiktok: TikTokClient | None = None, instagram: GraphClient | None = None) -> dict:
    """Unsubscribe at Meta (best effort), then delete the account, its tokens and its webhook routes."""
    kind, row_id = parse_account_id(account_id)
    unsubscribed = True
    if kind == "meta":
        account = db.one("get_meta_account", id=row_id, user_id=user_id)
        if account is None:
            raise AccountNotFound(account_id)
        pages = db.all("pages_of_meta_account", meta_account_id=row_id, user_id=user_id)
        for page in pages:
            if page["is_selected"]:
                unsubscribed = _unsubscribe_page(db, vault, graph, user_id, {**page}) and unsubscribed
        external = [p["page_id"] for p in pages] + [p["ig_user_id"] for p in pages if p["ig_user_id"]]
        with db.transaction() as tx:
            tx.run("delete_meta_account", id=row_id, user_id=user_id)
            tx.run("delete_account_routes", user_id=user_id, external_ids=external)
    elif kind == "instagram":
        account = db.one("get_instagram_account", id=row_id, user_id=user_id)
        if account is None:
            raise AccountNotFound(account_id)
        if account["token_kind"] == "instagram_login" and instagram is not None:
            unsubscribed = _unsubscribe_at_meta(vault, instagram, "me", account)
        with db.transaction() as tx:
            tx.run("end_webhook_subscription", user_id=user_id, external_id=account["ig_user_id"])
            tx.run("delete_instagram_account", id=row_id, user_id=user_id)
            tx.run("delete_account_routes", user_id=user_id, external_ids=[account["ig_user_id"]])
    elif kind == "whatsapp":
        account = db.one("get_whatsapp_account", id=row_id, user_id=user_id)
        if account is None:
            raise AccountNotFound(account_id)
        unsubscribed = _unsubscribe_at_meta(vault, graph, account["waba_id"], account)
        with db.transaction() as tx:
            tx.run("end_webhook_subscription", user_id=user_id, external_id=account["waba_id"])
            tx.run("delete_whatsapp_account", id=row_id, user_id=user_id)
            tx.run("delete_account_routes", user_id=user_id,
                   external_ids=[account["waba_id"], *account["phone_number_ids"]])
    else:
        account = db.one("get_tiktok_account", id=row_id, user_id=user_id)
        if account is None:
            raise AccountNotFound(account_id)
        if tiktok is not None:
            from webhook_app.tokens import tiktok_tokens  # it stores through this module: imported when used

            try:
                # Revoking needs a live access token (TikTok's last 2 hours): refreshed first when nearly out.
                tiktok.revoke(tiktok_tokens.access_token(db, vault, tiktok, account))
            except (TokenUnavailable, GraphError) as exc:
                log.info("TikTok token not revoked: %s", exc)
        with db.transaction() as tx:
            tx.run("delete_tiktok_account", id=row_id, user_id=user_id)
            tx.run("delete_account_routes", user_id=user_id, external_ids=[account["open_id"]])
    return {"id": account_id, "disconnected": True, "unsubscribed": unsubscribed}
