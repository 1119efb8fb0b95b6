"""`python -m webhook_app.rotate_keys`: re-seal every stored secret under the newest key.

Put the new key first in TOKEN_ENCRYPTION_KEYS (keep the old ones after it), run this, then the
old keys may be dropped. Safe to run twice and while the app runs: a secret changed meanwhile is
left alone (it was sealed with the newest key anyway).
"""
from __future__ import annotations

import logging
import sys

from webhook_app.config import Settings, load_settings_or_exit
from webhook_app.db.pool import Database
from webhook_app.logging_setup import configure_logging
from webhook_app.tokens.vault import Vault, VaultError

log = logging.getLogger(__name__)


def rotate(db: Database, vault: Vault) -> dict[str, int]:
    """Re-seal every secret not under the current key; returns counts resealed and unreadable."""
    counts = {"resealed": 0, "unreadable": 0}
    for row in db.all("secrets_to_reseal", current_key_id=vault.current_key_id):
        try:
            plaintext = vault.open(row["ciphertext"], row["key_id"])
        except VaultError as exc:
            # Leave it: the account will show needs_reauth when used; the operator sees why here.
            log.error("%s #%s: %s", row["secret"], row["id"], exc)
            counts["unreadable"] += 1
            continue
        sealed = vault.seal(plaintext)
        updated = db.one("reseal_secret", secret=row["secret"], id=row["id"], ciphertext=sealed.ciphertext,
                         key_id=sealed.key_id, old_ciphertext=row["ciphertext"])
        counts["resealed"] += updated["updated"] if updated else 0
    return counts


def run(settings: Settings) -> dict[str, int]:
    database_url = settings.database_url
    if not database_url:
        from webhook_app.db import embedded as embedded_db

        database_url = embedded_db.ensure_database(settings.var_dir)
    db = Database(database_url, maxconn=2, application_name="insta-connect-rotate-keys")
    try:
        return rotate(db, Vault(settings.token_encryption_keys))
    finally:
        db.close()


def main() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level)
    counts = run(settings)
    print(f"re-sealed {counts['resealed']} secrets under key {Vault(settings.token_encryption_keys).current_key_id}; "
          f"{counts['unreadable']} could not be opened", flush=True)
    return 1 if counts["unreadable"] else 0


if __name__ == "__main__":
    sys.exit(main())
