"""Replies (SPEC 16): outbound messages queued from the inbox, sent at most once by the sender, followed to "read"."""
