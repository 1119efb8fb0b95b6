"""Key rotation: re-seal every stored secret under the newest key (`python -m jobs.rotate_keys`).

Safe to run twice and while the app runs: a secret changed meanwhile is left alone (it was
sealed with the newest key anyway).
"""
from __future__ import annotations

import logging

from webhook_app.db import Database
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
        counts["resealed"] += db.run("reseal_secret", secret=row["secret"], id=row["id"], ciphertext=sealed.ciphertext,
                                     key_id=sealed.key_id, old_ciphertext=row["ciphertext"])
    return counts
