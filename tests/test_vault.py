"""The token vault: AES-256-GCM, key ids, rotation-friendly opening, clear errors."""
import pytest

from webhook_app.tokens.vault import Vault, VaultError, key_id

OLD, NEW = b"o" * 32, b"n" * 32


def test_seal_and_open_round_trip_under_the_newest_key():
    vault = Vault((NEW, OLD))
    sealed = vault.seal("EAAsecret-token")
    assert sealed.key_id == key_id(NEW) and len(sealed.key_id) == 8
    assert b"EAAsecret-token" not in sealed.ciphertext
    assert vault.open(sealed.ciphertext, sealed.key_id) == "EAAsecret-token"
    assert vault.seal("EAAsecret-token").ciphertext != sealed.ciphertext  # a fresh nonce each time


def test_old_keys_still_open_and_are_flagged_for_rotation():
    old = Vault((OLD,)).seal("token")
    vault = Vault((NEW, OLD))
    assert vault.open(old.ciphertext, old.key_id) == "token"
    assert vault.needs_rotation(old.key_id) and not vault.needs_rotation(key_id(NEW))


def test_missing_key_damaged_or_absent_secret_are_clear_errors():
    sealed = Vault((OLD,)).seal("token")
    with pytest.raises(VaultError, match="not configured"):
        Vault((NEW,)).open(sealed.ciphertext, sealed.key_id)
    damaged = bytearray(sealed.ciphertext)
    damaged[-1] ^= 1
    with pytest.raises(VaultError, match="damaged"):
        Vault((OLD,)).open(bytes(damaged), sealed.key_id)
    with pytest.raises(VaultError, match="no secret"):
        Vault((OLD,)).open(None, None)
    for error in ("not configured", "damaged"):
        assert "token" not in error


def test_keys_must_be_32_bytes():
    with pytest.raises(VaultError):
        Vault((b"short",))
    with pytest.raises(VaultError):
        Vault(())
