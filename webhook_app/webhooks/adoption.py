"""Events that arrived before their account was connected (SPEC 7): given to it when it is, and processed.

Intake keeps a delivery whose entry id no connected account owns (owner unknown); the processor
marks it processed with a note and keeps it for the retention period. When an account with that id
is connected, the connect flow calls `adopt` in the transaction that stores the account.
"""
from __future__ import annotations

from webhook_app.db import Transaction


def adopt(tx: Transaction, user_id: int, external_ids: list[str]) -> int:
    """Give the unowned events of these Meta ids to the user and queue them again; returns how many."""
    ids = sorted({str(i) for i in external_ids if i})
    if not ids:
        return 0
    return tx.one("adopt_unowned_webhook_events", user_id=user_id, external_ids=ids)["adopted"]


def adopted_count(tx_or_db, user_id: int) -> dict:
    """How many of the user's events arrived before their account was connected, and the latest of them."""
    return tx_or_db.one("user_adopted_webhook_events", user_id=user_id)
