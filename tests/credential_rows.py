"""Credentials as tests read and write them directly: the token a connect flow stored, or one planted."""
from __future__ import annotations

from webhook_app.tokens.vault import Vault


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
