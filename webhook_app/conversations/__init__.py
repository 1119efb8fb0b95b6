"""Conversations (SPEC 15): contacts, threads and their messages; written by the webhook handlers, read by the inbox."""
