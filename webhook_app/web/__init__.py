"""Request plumbing shared by every page and API: request hooks, errors, sessions, rate limits, API helpers."""
