"""The `/api/` parent blueprint: every JSON area nests under it and shares its rate limit."""
from __future__ import annotations

from flask import Blueprint, current_app
from flask_login import current_user

from webhook_app.web.extensions import limiter, user_or_ip


def _api_limit() -> str:
    limits = current_app.config["RATELIMITS"]
    return limits["RATELIMIT_API_USER"] if current_user.is_authenticated else limits["RATELIMIT_API_ANONYMOUS"]


def create_api_blueprint(areas: list[Blueprint]) -> Blueprint:
    """A fresh parent per app (a blueprint can be registered on a parent only once)."""
    api = Blueprint("api", __name__, url_prefix="/api")
    for area in areas:
        api.register_blueprint(area)
    # One counter across every /api/ route (shared scope), not one per route.
    limiter.shared_limit(_api_limit, scope="api", key_func=user_or_ip)(api)
    return api
