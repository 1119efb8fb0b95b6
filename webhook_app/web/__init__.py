"""Request plumbing shared by every page and API: request ids and headers, errors, sessions, rate limits, API helpers."""
