"""Server-side sessions in PostgreSQL, on Flask-Session's own server-side base class."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Optional

from flask import Flask
from flask_session.base import ServerSideSession, ServerSideSessionInterface

from webhook_app.db import Database
from webhook_app.exceptions import DatabaseUnavailable

log = logging.getLogger(__name__)


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

    def open_session(self, app: Flask, request) -> ServerSideSession:
        # With the database down the request goes on anonymous, so /healthz can answer 503 and
        # the webhook receivers can answer their own 503 instead of a bare 500.
        try:
            return super().open_session(app, request)
        except DatabaseUnavailable:
            log.warning("session store unavailable; treating the request as anonymous")
            return self.session_class(sid=self._generate_sid(self.sid_length), permanent=self.permanent)

    def save_session(self, app: Flask, session: ServerSideSession, response) -> None:
        try:
            super().save_session(app, session, response)
        except DatabaseUnavailable:
            log.warning("session store unavailable; session not saved")

    def _retrieve_session_data(self, store_id: str) -> Optional[dict]:
        row = self.db.one("get_session", session_id=store_id)
        if row is None:
            return None
        return self.serializer.decode(bytes(row["data"]))

    def _delete_session(self, store_id: str) -> None:
        self.db.run("delete_session", session_id=store_id)

    def _upsert_session(self, session_lifetime: timedelta, session: ServerSideSession, store_id: str) -> None:
        user_id = session.get("_user_id")
        self.db.run(
            "upsert_session",
            session_id=store_id,
            user_id=int(user_id) if user_id else None,
            data=self.serializer.encode(session),
            expires_at=datetime.now(timezone.utc) + session_lifetime,
        )

    def _delete_expired_sessions(self) -> None:
        delete_expired(self.db)


def delete_expired(db: Database) -> int:
    """Delete expired sessions (the prune job); returns how many went."""
    return db.run("delete_expired_sessions")
