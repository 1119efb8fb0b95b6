"""Flask extensions, created once and bound to each app by create_app()."""
from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager, current_user
from flask_wtf import CSRFProtect

from webhook_app.web import ratelimit_storage  # noqa: F401  (registers the postgresql:// limits storage)


def client_ip() -> str:
    """The caller's address; behind nginx, ProxyFix has already put the real one here."""
    return request.remote_addr or "unknown"


def user_or_ip() -> str:
    """Rate-limit key: the logged-in user, else the caller's address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{client_ip()}"


csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=client_ip, headers_enabled=True, strategy="fixed-window")
