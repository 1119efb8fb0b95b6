"""Tokens: the vault, refresh, health checks and key rotation."""
