"""`python -m jobs.rotate_keys`: re-seal every stored secret under the newest key.

Put the new key first in TOKEN_ENCRYPTION_KEYS (keep the old ones after it), run this, then the
old keys may be dropped.
"""
from __future__ import annotations

import sys

from jobs.common import job_settings, open_database
from webhook_app.tokens.key_rotation import rotate
from webhook_app.tokens.vault import Vault


def main() -> int:
    settings = job_settings()
    vault = Vault(settings.token_encryption_keys)
    db = open_database(settings, "rotate-keys", maxconn=2)
    try:
        counts = rotate(db, vault)
    finally:
        db.close()
    print(f"re-sealed {counts['resealed']} secrets under key {vault.current_key_id}; "
          f"{counts['unreadable']} could not be opened", flush=True)
    return 1 if counts["unreadable"] else 0


if __name__ == "__main__":
    sys.exit(main())
