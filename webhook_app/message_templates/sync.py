"""WhatsApp message templates: pull them from Meta, keep them current, apply template webhooks (SPEC 10).

`sync_account` reads every page of `/{waba-id}/message_templates`, stores each template with its
parsed components, removes those Meta no longer lists and records the outcome in
`template_sync_state`; running it twice changes nothing. `apply_template_webhook` updates the one
template a status, category or quality webhook is about (a components update, or a template not
stored yet, queues one sync of its account instead).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass

from webhook_app.accounts import store as accounts
from webhook_app.accounts.graph import GraphClient, GraphError, RateLimited, ReauthorizationRequired, Transient
from webhook_app.background_jobs import store as background_jobs
from webhook_app.db import Database, Transaction
from webhook_app.tokens.vault import Vault

log = logging.getLogger(__name__)

JOB_KIND = "sync_templates"
TEMPLATE_FIELDS = "id,name,language,status,category,quality_score,rejected_reason,components"
PAGE_SIZE = 100
# A template webhook about a template we have not stored queues a sync this many seconds later: the other
# webhooks of the same burst find it queued and add nothing (one queued sync per account at a time).
WEBHOOK_SYNC_DELAY = 15.0
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass
class SyncResult:
    """What one account's sync did."""

    whatsapp_account_id: int
    waba_id: str
    ok: bool
    templates: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    error: str | None = None
    retryable: bool = False     # the failure may pass by itself (a queued job is retried)

    def as_dict(self) -> dict:
        return asdict(self)


# ---- parsing ------------------------------------------------------------------------------------

def body_variables(text: str | None) -> list:
    """The `{{n}}` (or named `{{name}}`) placeholders of a text, in order of first use."""
    seen: list = []
    for raw in _VARIABLE.findall(text or ""):
        name = int(raw) if raw.isdigit() else raw
        if name not in seen:
            seen.append(name)
    return seen


def parse_components(components) -> dict:
    """Meta's component list as {"header", "body", "footer", "buttons"} (missing parts are None / [])."""
    parsed: dict = {"header": None, "body": None, "footer": None, "buttons": []}
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            fmt = str(component.get("format") or "TEXT").upper()
            parsed["header"] = {"format": fmt, "text": component.get("text"),
                                "variables": body_variables(component.get("text"))}
        elif kind == "BODY":
            parsed["body"] = {"text": component.get("text") or "", "variables": body_variables(component.get("text"))}
        elif kind == "FOOTER":
            parsed["footer"] = {"text": component.get("text") or ""}
        elif kind == "BUTTONS":
            for button in component.get("buttons") or []:
                if isinstance(button, dict):
                    item = {"type": str(button.get("type", "")).upper(), "text": button.get("text") or ""}
                    for extra in ("url", "phone_number", "otp_type"):
                        if button.get(extra):
                            item[extra] = button[extra]
                    parsed["buttons"].append(item)
    return parsed


def template_row(template: dict) -> dict:
    """One template from Meta as the columns we store."""
    return {"template_id": str(template["id"]), "name": template.get("name") or "",
            "language": template.get("language") or "", "status": str(template.get("status") or "UNKNOWN").upper(),
            "category": template.get("category"), "quality_score": _quality(template.get("quality_score")),
            "rejected_reason": _reason(template.get("rejected_reason")),
            "components": parse_components(template.get("components"))}


def _quality(value) -> str | None:
    # Meta sends {"score": "GREEN", "date": ...}; older versions a plain string.
    if isinstance(value, dict):
        value = value.get("score")
    return str(value) if value else None


def _reason(value) -> str | None:
    return None if value in (None, "", "NONE") else str(value)


# ---- syncing ------------------------------------------------------------------------------------

def sync_account(db: Database, vault: Vault, client: GraphClient, account: dict) -> SyncResult:
    """Pull every template of one WhatsApp account and make the stored set match Meta's."""
    result = SyncResult(account["id"], account["waba_id"], ok=False)
    db.run("start_template_sync", whatsapp_account_id=account["id"], user_id=account["user_id"])
    try:
        token = accounts.open_token(vault, account)
        rows = [template_row(t) for t in client.paginate(f"/{account['waba_id']}/message_templates", token,
                                                         fields=TEMPLATE_FIELDS, limit=PAGE_SIZE)]
    except accounts.TokenUnavailable as exc:
        return _failed(db, account, result, f"The WhatsApp token cannot be used ({exc}); connect WhatsApp again.")
    except ReauthorizationRequired as exc:
        return _failed(db, account, result, f"Meta refused the WhatsApp token ({exc.message}); "
                                            "connect WhatsApp again.")
    except RateLimited as exc:
        return _failed(db, account, result, f"Meta is limiting requests ({exc.message}); the sync will run again later.",
                       retryable=True)
    except GraphError as exc:
        return _failed(db, account, result, f"Meta did not list the templates: {exc.message}",
                       retryable=isinstance(exc, Transient))
    with db.transaction() as tx:
        changed = tx.all("upsert_templates", user_id=account["user_id"], whatsapp_account_id=account["id"],
                         templates=json.dumps(rows))
        result.removed = tx.run("delete_templates_not_in", whatsapp_account_id=account["id"],
                                keep=[r["template_id"] for r in rows])
        tx.run("finish_template_sync", whatsapp_account_id=account["id"], template_count=len(rows))
    result.added = sum(1 for r in changed if r["inserted"])
    result.updated = len(changed) - result.added
    result.templates = len(rows)
    result.ok = True
    log.info("templates of WABA %s: %d listed, %d added, %d updated, %d removed", account["waba_id"],
             result.templates, result.added, result.updated, result.removed)
    return result


def _failed(db: Database, account: dict, result: SyncResult, message: str, *, retryable: bool = False) -> SyncResult:
    db.run("fail_template_sync", whatsapp_account_id=account["id"], user_id=account["user_id"], error=message)
    log.warning("template sync of WABA %s failed: %s", account["waba_id"], message)
    result.error = message
    result.retryable = retryable
    return result


def sync_user(db: Database, vault: Vault, client: GraphClient, user_id: int | None) -> list[SyncResult]:
    """Sync every WhatsApp account of one user (None: of every user)."""
    return [sync_account(db, vault, client, account)
            for account in db.all("whatsapp_accounts_to_sync", user_id=user_id)]


def queue_sync(target, whatsapp_account_id: int, *, delay: float = 0) -> int | None:
    """Queue a sync of one account for the worker (once while one is already queued)."""
    return background_jobs.enqueue(target, JOB_KIND, {"whatsapp_account_id": whatsapp_account_id},
                                   dedupe_key=f"{JOB_KIND}:{whatsapp_account_id}", delay=delay)


def run_job(db: Database, vault: Vault, client: GraphClient, payload: dict) -> SyncResult | None:
    """The queued job: sync one account; a failure Meta may get over is raised so the job is retried."""
    account = db.one("whatsapp_account_to_sync", id=payload["whatsapp_account_id"])
    if account is None:
        return None  # disconnected since it was queued
    result = sync_account(db, vault, client, account)
    if not result.ok and result.retryable:
        raise RuntimeError(result.error)
    return result


# ---- webhooks -----------------------------------------------------------------------------------

def apply_template_webhook(tx: Transaction, waba_id: str, change: dict, user_id: int | None = None) -> int:
    """Update the one template a template webhook is about, in the caller's transaction.

    Returns how many stored rows changed. A template we have not stored yet (created at Meta after
    the last sync) queues a sync of its account instead.
    """
    value = change.get("value") if isinstance(change.get("value"), dict) else {}
    template_id = value.get("message_template_id")
    if template_id is None:
        return 0
    field = change.get("field")
    params = dict(waba_id=str(waba_id), template_id=str(template_id), user_id=user_id, status=None,
                  rejected_reason=None, category=None, quality_score=None)
    if field == "message_template_status_update":
        event = str(value.get("event") or "").upper()
        if event in ("DELETED", "PENDING_DELETION"):
            return tx.run("delete_template_from_webhook",
                          **{k: params[k] for k in ("waba_id", "template_id", "user_id")})
        params.update(status=event or None, rejected_reason=_reason(value.get("reason")))
    elif field == "template_category_update":
        params["category"] = value.get("new_category") or value.get("correct_category")
    elif field == "message_template_quality_update":
        params["quality_score"] = value.get("new_quality_score")
    elif field == "message_template_components_update":
        _queue_webhook_sync(tx, waba_id, user_id)  # the webhook names the changed parts; a sync reads them whole
        return 0
    else:
        return 0
    touched = tx.run("update_template_from_webhook", **params)
    if touched == 0:
        _queue_webhook_sync(tx, waba_id, user_id)
    return touched


def _queue_webhook_sync(tx: Transaction, waba_id, user_id: int | None) -> None:
    for row in tx.all("whatsapp_accounts_by_waba", waba_id=str(waba_id), user_id=user_id):
        queue_sync(tx, row["id"], delay=WEBHOOK_SYNC_DELAY)
