"""The failed-login limit, counted before the password is checked so simultaneous attempts cannot overrun it.

Flask-Limiter's `deduct_when` counts after the answer: forty attempts sent at once all passed its
check before the first was counted. Here each attempt takes a slot with one atomic increment of the
shared counter first; only a successful login gives its slot back (SPEC 12: successes do not count).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app
from limits import RateLimitItem, parse
from werkzeug.exceptions import TooManyRequests

from webhook_app.web.extensions import limiter

SCOPE = "auth.login"


@dataclass
class Attempt:
    item: RateLimitItem
    key: str

    def give_back(self) -> None:
        """Undo this attempt's count: the password was right."""
        limiter.storage.incr(self.key, self.item.get_expiry(), amount=-1)


def take(limit: str, ip: str) -> Attempt:
    """Count one attempt for this address, or raise 429 (with Retry-After) when the limit is used up."""
    item = parse(limit)
    identifiers = (current_app.config["RATELIMIT_KEY_PREFIX"], SCOPE, ip)
    strategy = limiter.limiter
    if not strategy.hit(item, *identifiers):
        reset = strategy.get_window_stats(item, *identifiers).reset_time
        raise TooManyRequests(str(item), retry_after=max(1, int(reset - time.time()) + 1))
    return Attempt(item, item.key_for(*identifiers))
