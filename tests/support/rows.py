"""Rows the tests put straight into the database or read out of it: webhook events, inbox rows, credentials."""
from __future__ import annotations

import json

from webhook_app.tokens.vault import Vault


def user_id(sql, email: str) -> int:
    return sql("SELECT id FROM users WHERE email = %s", (email,))[0][0]


def insert_event(sql, owner: int | None, *, status: str = "pending", object: str = "instagram",
                 field: str | None = "comments", received_at: str | None = None, payload: dict | None = None,
                 errors: list | None = None, attempts: int = 0, note: str | None = None) -> int:
    """One delivery with one event; returns the event's id."""
    payload = payload if payload is not None else {"id": "17841400000000000", "changes": [{"field": field}]}
    rows = sql(
        """
        WITH d AS (
            INSERT INTO webhook_deliveries (body_sha256, object, entry_count)
            VALUES (sha256((random()::text || clock_timestamp()::text)::bytea), %(object)s, 1)
            RETURNING id
        )
        INSERT INTO webhook_events (delivery_id, entry_index, user_id, object, field, entry_id, payload, status,
                                    attempts, errors, note, received_at, processed_at)
        SELECT d.id, 0, %(owner)s, %(object)s, %(field)s, %(entry_id)s, %(payload)s, %(status)s, %(attempts)s,
               %(errors)s, %(note)s, coalesce(%(received_at)s::timestamptz, now()),
               CASE WHEN %(status)s = 'processed' THEN now() END
        FROM d
        RETURNING id
        """,
        {"owner": owner, "object": object, "field": field, "entry_id": payload.get("id"),
         "payload": json.dumps(payload), "status": status, "attempts": attempts,
         "errors": json.dumps(errors or []), "note": note, "received_at": received_at},
    )
    return rows[0][0]


def insert_interaction(sql, owner: int, *, external_id: str, text: str = "hello", kind: str = "message",
                       platform: str = "instagram", occurred_at: str | None = None) -> int:
    rows = sql(
        """
        INSERT INTO interactions (user_id, platform, kind, external_id, sender_id, text, occurred_at)
        VALUES (%s, %s, %s, %s, 'sender-1', %s, %s::timestamptz) RETURNING id
        """,
        (owner, platform, kind, external_id, text, occurred_at),
    )
    return rows[0][0]


def stored_token(settings, sql, kind: str, account_id: int, secret: str = "access_token") -> str:
    """The plaintext of an account's stored token (kind: meta, page, instagram, whatsapp, tiktok)."""
    row = sql(f"SELECT {secret}_ciphertext, {secret}_key_id FROM credentials WHERE kind = %s AND account_id = %s",
              (kind, account_id))[0]
    return Vault(settings.token_encryption_keys).open(row[0], row[1])


def plant_credential(sql, settings, kind: str, account_id: int, token: str | None, token_kind: str,
                     **columns) -> None:
    """A credential for an account row inserted by the test; `columns` sets lifecycle columns as SQL expressions."""
    sealed = Vault(settings.token_encryption_keys).seal(token) if token else None
    names = ", ".join(columns)
    values = ", ".join(str(v) for v in columns.values())
    sql(f"INSERT INTO credentials (user_id, kind, account_id, token_kind, access_token_ciphertext, "
        f"access_token_key_id{', ' + names if names else ''}) "
        f"SELECT user_id, %s, %s, %s, %s, %s{', ' + values if values else ''} "
        f"FROM account_credentials WHERE kind = %s AND id = %s",
        (kind, account_id, token_kind, sealed.ciphertext if sealed else None, sealed.key_id if sealed else None,
         kind, account_id))
