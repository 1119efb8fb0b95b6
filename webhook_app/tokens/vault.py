"""The token vault: AES-256-GCM with a key id beside every ciphertext, so keys can rotate (SPEC 5).

The first key of settings.token_encryption_keys seals; every listed key opens. A stored secret is
two columns: `<name>_ciphertext` (12-byte nonce + ciphertext + 16-byte tag) and `<name>_key_id`
(first 8 hex digits of the key's SHA-256). `python -m jobs.rotate_keys` re-seals every
stored secret under the newest key.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from webhook_app.exceptions import InstaConnectError

NONCE_BYTES = 12


class VaultError(InstaConnectError):
    """A stored secret cannot be opened: its key is gone or the bytes were altered."""


def key_id(key: bytes) -> str:
    """A short, stable, non-secret name for a key."""
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass(frozen=True)
class Sealed:
    """A secret as stored: ciphertext and the id of the key that sealed it."""

    ciphertext: bytes
    key_id: str


class Vault:
    """Seals with the newest key, opens with any configured key."""

    def __init__(self, keys: tuple[bytes, ...] | list[bytes]):
        if not keys:
            raise VaultError("no encryption key configured (TOKEN_ENCRYPTION_KEYS)")
        for key in keys:
            if len(key) != 32:
                raise VaultError("every encryption key must be 32 bytes (AES-256)")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.current_key_id = key_id(keys[0])

    def seal(self, plaintext: str) -> Sealed:
        """Encrypt a secret under the newest key."""
        if not plaintext:
            raise VaultError("refusing to seal an empty secret")
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._keys[self.current_key_id].encrypt(nonce, plaintext.encode(), None)
        return Sealed(nonce + ciphertext, self.current_key_id)

    def open(self, ciphertext: bytes | memoryview | None, stored_key_id: str | None) -> str:
        """Decrypt a stored secret, or raise VaultError (never hand back ciphertext)."""
        if ciphertext is None or not stored_key_id:
            raise VaultError("no secret is stored")
        aead = self._keys.get(stored_key_id)
        if aead is None:
            raise VaultError(f"the secret was sealed with key {stored_key_id}, which is not configured")
        data = bytes(ciphertext)
        try:
            return aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None).decode()
        except (InvalidTag, ValueError):
            raise VaultError(f"the secret sealed with key {stored_key_id} is damaged") from None

    def seal_columns(self, name: str, plaintext: str | None) -> dict:
        """Query parameters `<name>_ciphertext` / `<name>_key_id` for a secret (both None when absent)."""
        if not plaintext:
            return {f"{name}_ciphertext": None, f"{name}_key_id": None}
        sealed = self.seal(plaintext)
        return {f"{name}_ciphertext": sealed.ciphertext, f"{name}_key_id": sealed.key_id}

    def needs_rotation(self, stored_key_id: str | None) -> bool:
        return stored_key_id is not None and stored_key_id != self.current_key_id


def from_settings(settings) -> Vault:
    return Vault(settings.token_encryption_keys)
