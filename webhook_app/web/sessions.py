"""Server-side sessions in PostgreSQL, on Flask-Session's own server-side base class.

A session that holds nothing but an anonymous visitor's CSRF token gets no row: the token travels
in the session cookie itself, signed with SECRET_KEY (the double-submit cookie pattern), so a
crawler's thousand visits to the login form store nothing. The first thing worth keeping (a login,
a flash message) moves the session into a row under a fresh random id.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Optional

from flask import Flask
from flask_session.base import ServerSideSession, ServerSideSessionInterface
from itsdangerous import BadSignature, URLSafeSerializer

from webhook_app.db import Database
from webhook_app.exceptions import DatabaseUnavailable

log = logging.getLogger(__name__)

ANONYMOUS_PREFIX = "a."  # a cookie value starting so is a signed anonymous session, not a row's id
ROWLESS_KEYS = frozenset({"csrf_token", "_permanent"})  # _permanent: Flask-Session's own flag


class PostgresSessionInterface(ServerSideSessionInterface):
    """Stores each session as a row of the `sessions` table; expired rows are never read."""

    ttl = False  # PostgreSQL has no TTL: expired rows are filtered on read and pruned by a job.

    def __init__(self, app: Flask, db: Database, *, sid_length: int = 32):
        self.db = db
        super().__init__(app, key_prefix="", use_signer=False, permanent=True,
                         sid_length=sid_length, cleanup_n_requests=None)

    def _register_cleanup_app_command(self) -> None:
        @self.app.cli.command("session-cleanup")
        def session_cleanup():
            """Delete expired sessions."""
            self._delete_expired_sessions()

    def _anonymous_signer(self, app: Flask) -> URLSafeSerializer:
        return URLSafeSerializer(app.secret_key, salt="insta-connect-anonymous-session")

    def open_session(self, app: Flask, request) -> ServerSideSession:
        cookie = request.cookies.get(self.get_cookie_name(app), "")
        if cookie.startswith(ANONYMOUS_PREFIX):
            try:
                data = self._anonymous_signer(app).loads(cookie[len(ANONYMOUS_PREFIX):])
            except BadSignature:
                data = None
            if not isinstance(data, dict) or not set(data) <= ROWLESS_KEYS:
                data = {}
            return self.session_class(data, sid=self._generate_sid(self.sid_length), permanent=self.permanent)
        # With the database down the request goes on anonymous, so /healthz can answer 503 and
        # the webhook receivers can answer their own 503 instead of a bare 500.
        try:
            return super().open_session(app, request)
        except DatabaseUnavailable:
            log.warning("session store unavailable; treating the request as anonymous")
            return self.session_class(sid=self._generate_sid(self.sid_length), permanent=self.permanent)

    def save_session(self, app: Flask, session: ServerSideSession, response) -> None:
        if session and set(session) <= ROWLESS_KEYS:
            self._save_in_cookie(app, session, response)
            return
        try:
            super().save_session(app, session, response)
        except DatabaseUnavailable:
            log.warning("session store unavailable; session not saved")

    def _save_in_cookie(self, app: Flask, session: ServerSideSession, response) -> None:
        """An anonymous session holding only its CSRF token: signed into the cookie, no row."""
        if session.accessed:
            response.vary.add("Cookie")
        if not session.modified:
            return
        value = ANONYMOUS_PREFIX + self._anonymous_signer(app).dumps(dict(session))
        response.set_cookie(self.get_cookie_name(app), value, expires=self.get_expiration_time(app, session),
                            httponly=self.get_cookie_httponly(app), domain=self.get_cookie_domain(app),
                            path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
                            samesite=self.get_cookie_samesite(app))
        response.vary.add("Cookie")

    def _retrieve_session_data(self, store_id: str) -> Optional[dict]:
        row = self.db.one("get_session", session_id=store_id)
        if row is None:
            return None
        return self.serializer.decode(bytes(row["data"]))

    def _delete_session(self, store_id: str) -> None:
        self.db.run("delete_session", idempotent=True, session_id=store_id)

    def _upsert_session(self, session_lifetime: timedelta, session: ServerSideSession, store_id: str) -> None:
        user_id = session.get("_user_id")
        self.db.run(
            "upsert_session", idempotent=True,
            session_id=store_id,
            user_id=int(user_id) if user_id else None,
            data=self.serializer.encode(session),
            expires_at=datetime.now(timezone.utc) + session_lifetime,
        )

    def _delete_expired_sessions(self) -> None:
        delete_expired(self.db)


def delete_expired(db: Database) -> int:
    """Delete expired sessions, and anonymous ones untouched for a day (the prune job); returns how many went."""
    return db.run("delete_expired_sessions")
