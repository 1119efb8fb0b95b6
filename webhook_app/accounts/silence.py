"""The silence alarm (issue 21): a subscribed account whose webhooks stop arriving is noticed, and "check
subscription" asks Meta whether our app is still subscribed (`GET /{id}/subscribed_apps`) and subscribes it again.

What each account is expected to receive is learned from its own last 14 days: one that got webhooks on most
of the days it was watched "usually gets daily traffic" and is silent after `SILENCE_ALARM_HOURS` (6) without
one; a quieter one is silent after three of its usual gaps (at least the same 6 hours, at most 7 days); one
with no history yet has no expectation and never alarms. The clock starts again when the subscription is made
again. Silence has causes Meta does not report: the subscription removed at Meta, the app secret changed (every
delivery refused with 401), the endpoint unreachable. The check tells the first apart from the others.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from webhook_app.accounts.graph import GraphClient, GraphError
from webhook_app.db import Database
from webhook_app.tokens.credentials import TokenUnavailable, open_token
from webhook_app.tokens.vault import Vault
from webhook_app.web.serialize import iso

log = logging.getLogger(__name__)

HISTORY_DAYS = 14
DAILY_SHARE = 0.7          # webhooks on 70 % of the days watched: "usually gets daily traffic"
GAPS_BEFORE_ALARM = 3
LONGEST_EXPECTATION = timedelta(days=7)


class SubscriptionNotFound(Exception):
    """No live subscription with this id for this user (someone else's looks the same)."""


def expectation(row: dict, alarm_hours: float, now: datetime) -> timedelta | None:
    """How long this subscription may go without a webhook before it counts as silent (None: nothing learned)."""
    if not row["events"]:
        return None
    watched_since = max(row["subscribed_at"], now - timedelta(days=HISTORY_DAYS))
    watched_days = max(1.0, (now - watched_since) / timedelta(days=1))
    alarm = timedelta(hours=alarm_hours)
    if row["active_days"] >= DAILY_SHARE * min(watched_days, HISTORY_DAYS) and row["active_days"] >= 2:
        return alarm
    usual_gap = (now - watched_since) / row["events"]
    return min(LONGEST_EXPECTATION, max(alarm, GAPS_BEFORE_ALARM * usual_gap))


def report(db: Database, user_id: int, alarm_hours: float, now: datetime | None = None) -> list[dict]:
    """Each live subscription of the user: when its last webhook came, what is expected, and whether it is silent."""
    now = now or datetime.now(timezone.utc)
    out = []
    for row in db.all("subscription_activity", user_id=user_id):
        expected = expectation(row, alarm_hours, now)
        # Silence counts from the last webhook, or from the subscription when it was made (again) since.
        since = max(row["last_event_at"] or row["subscribed_at"], row["subscribed_at"])
        quiet = now - since
        silent = expected is not None and quiet > expected
        out.append({
            "subscription_id": row["id"], "account_id": row["account_id"], "name": row["name"], "kind": row["kind"],
            "external_id": row["external_id"], "fields": list(row["fields"] or []),
            "subscribed_at": iso(row["subscribed_at"]), "last_event_at": iso(row["last_event_at"]),
            "events_14_days": row["events"], "active_days_14": row["active_days"],
            "expected_within_hours": round(expected / timedelta(hours=1), 1) if expected else None,
            "quiet_hours": round(quiet / timedelta(hours=1), 1), "silent": silent,
            "message": _message(row["name"], quiet, expected) if silent else None,
            "last_checked_at": iso(row["last_checked_at"]), "check_result": row["check_result"],
            "check": f"/api/accounts/subscriptions/{row['id']}/check",
        })
    return out


def _message(name: str, quiet: timedelta, expected: timedelta) -> str:
    hours = quiet / timedelta(hours=1)
    return (f"No webhooks from {name} for {hours:.0f} hours, though it usually gets one within "
            f"{expected / timedelta(hours=1):.0f}. Check the subscription: Meta may have removed it.")


def check(db: Database, vault: Vault, meta: GraphClient, instagram: GraphClient, user_id: int,
          subscription_id: int) -> dict:
    """Ask Meta whether our app is subscribed to this object; subscribe it again (with our fields) when it is not.

    Answers {"result": "subscribed" | "resubscribed", "fields": [...]}; raises TokenUnavailable or GraphError.
    """
    row = db.one("get_subscription", id=subscription_id, user_id=user_id)
    if row is None:
        raise SubscriptionNotFound(subscription_id)
    token = open_token(vault, row)
    fields = list(row["fields"] or [])
    # Instagram Login subscriptions live on graph.instagram.com, as "me" of the account's own token.
    client, path = (instagram, "/me/subscribed_apps") if row["subscription_kind"] == "instagram" else (
        meta, f"/{row['external_id']}/subscribed_apps")
    try:
        apps = client.get(path, token).get("data") or []
        ours = [a for a in apps if _is_ours(a, meta.app_id)]
        missing = [f for f in fields if ours and "subscribed_fields" in ours[0]
                   and f not in (ours[0].get("subscribed_fields") or [])]
        if ours and not missing:
            result = "subscribed"
        else:
            if row["subscription_kind"] == "whatsapp_business":
                client.post(path, token)
            else:
                client.post(path, token, subscribed_fields=",".join(fields))
            result = "resubscribed"
    except (GraphError, TokenUnavailable) as exc:
        db.run("record_subscription_check", id=subscription_id, user_id=user_id,
               result=f"error: {getattr(exc, 'message', None) or exc}"[:500])
        raise
    db.run("record_subscription_check", id=subscription_id, user_id=user_id, result=result)
    log.info("subscription %s (%s %s): %s", subscription_id, row["subscription_kind"], row["external_id"], result)
    return {"subscription_id": subscription_id, "result": result, "fields": fields,
            "hint": None if result == "resubscribed" else
            "Meta still sends this account's webhooks to the app: if none arrive, check that META_APP_SECRET "
            "matches the app's secret (deliveries signed with another are refused) and that the webhook URL "
            "is reachable from the internet."}


def _is_ours(app: dict, app_id: str) -> bool:
    """An entry of subscribed_apps for our app (WhatsApp nests it under whatsapp_business_api_data)."""
    entry = app.get("whatsapp_business_api_data") or app
    return str(entry.get("id")) == str(app_id) or not app_id
