"""Contact names for Instagram and Messenger (SPEC 15): the profile API, asked once per contact, in the background.

WhatsApp gives names in its webhooks; Instagram and Messenger give only ids. A background job
(queued, once at a time, when new contacts arrive) asks Meta's profile API for each contact never
asked about: name, username and picture, cached on the contact. It never runs inside webhook
processing, makes at most CALLS_PER_RUN calls a run spaced CALL_SPACING apart, and stops at Meta's
first rate-limit answer (the rest wait for the next run).
"""
from __future__ import annotations

import logging
import time

from webhook_app.accounts.graph import GraphClient, GraphError, RateLimited
from webhook_app.background_jobs import store as background_jobs
from webhook_app.db import Database, Transaction
from webhook_app.tokens.credentials import TokenUnavailable, open_token
from webhook_app.tokens.vault import Vault

log = logging.getLogger(__name__)

JOB_KIND = "look_up_contacts"
CALLS_PER_RUN = 50
CALL_SPACING = 0.05   # seconds between two calls: far below Meta's per-account limits
QUEUE_DELAY = 2.0     # seconds: the contacts of one burst of webhooks are looked up together
FIELDS = {"instagram": "name,username,profile_pic", "messenger": "first_name,last_name,profile_pic"}


def queue(tx: Transaction) -> None:
    """Queue a look-up run (once while one is queued), in the caller's transaction."""
    background_jobs.enqueue(tx, JOB_KIND, {}, dedupe_key=JOB_KIND, delay=QUEUE_DELAY)


def _profile(channel: str, answer: dict) -> dict:
    if channel == "messenger":
        name = " ".join(p for p in (answer.get("first_name"), answer.get("last_name")) if p) or None
        return {"contact_name": name, "username": None, "picture_url": answer.get("profile_pic")}
    return {"contact_name": answer.get("name") or None, "username": answer.get("username") or None,
            "picture_url": answer.get("profile_pic")}


def look_up(db: Database, vault: Vault, graph: GraphClient, *, limit: int = CALLS_PER_RUN,
            spacing: float = CALL_SPACING) -> dict:
    """Ask for the profiles of up to `limit` contacts never asked about; returns what happened."""
    done = {"found": 0, "failed": 0, "rate_limited": False}
    for n, contact in enumerate(db.all("contacts_due_for_profile", limit=limit)):
        if n and spacing:
            time.sleep(spacing)
        try:
            token = open_token(vault, contact)
            answer = graph.get(f"/{contact['external_id']}", token, fields=FIELDS[contact["channel"]])
        except RateLimited as exc:
            log.info("profile look-ups paused: Meta is limiting requests (%s)", exc.message)
            done["rate_limited"] = True
            break
        except (GraphError, TokenUnavailable) as exc:
            message = getattr(exc, "message", None) or str(exc)
            db.run("save_contact_profile", id=contact["id"], contact_name=None, username=None, picture_url=None,
                   error=message[:300])
            done["failed"] += 1
            continue
        db.run("save_contact_profile", id=contact["id"], error=None, **_profile(contact["channel"], answer))
        done["found"] += 1
    log.info("contact profiles: %d found, %d without a profile%s", done["found"], done["failed"],
             ", paused by a rate limit" if done["rate_limited"] else "")
    return done


def run_job(db: Database, vault: Vault, graph: GraphClient, payload: dict) -> dict:
    """The queued job: one run; when contacts are left (many arrived, or a rate limit), another run is queued."""
    done = look_up(db, vault, graph)
    if done["rate_limited"] or done["found"] + done["failed"] >= CALLS_PER_RUN:
        with db.transaction() as tx:
            background_jobs.enqueue(tx, JOB_KIND, {}, dedupe_key=JOB_KIND, delay=60 if done["rate_limited"] else 1)
    return done
