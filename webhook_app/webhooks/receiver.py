"""GET/POST /webhook and /webhooks/whatsapp: Meta's handshake and signed deliveries (SPEC 7).

A plain WSGI application that `Dispatch` puts in front of the Flask app. A delivery is a machine
call: it needs no session, login, CSRF token, rate limit, template or URL routing, and at
thousands of deliveries a second the framework's per-request work would cost more than the
signature check and the commit together (docs/BENCHMARKS.md, intake).
"""
from __future__ import annotations

import hmac
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qs

from webhook_app.config import Settings
from webhook_app.db import Database
from webhook_app.exceptions import DatabaseUnavailable
from webhook_app.web import request_hooks
from webhook_app.webhooks import intake

log = logging.getLogger(__name__)
request_log = logging.getLogger("webhook_app.request")

PATHS = frozenset(("/webhook", "/webhooks/whatsapp"))
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_ALLOWED = "GET, HEAD, POST"


class Refused(Exception):
    """A delivery or handshake answered with an error status; the message is the answer's body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Receiver:
    """The WSGI app of both receiver paths."""

    def __init__(self, settings: Settings, database: Database):
        self.settings = settings
        self.app_secrets = settings.meta_app_secrets  # newest first; two during a rotation
        self.db = database
        self.intake = intake.Intake(database)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = request_hooks.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"),
                   ("X-Request-ID", request_id)]
        try:
            if method == "POST":
                status, text = 200, self.receive(environ, request_id)
            elif method in ("GET", "HEAD"):
                status, text = 200, self.verify(environ, request_id)
            else:
                headers.append(("Allow", _ALLOWED))
                raise Refused(405, "Method not allowed")
        except Refused as refused:
            status, text = refused.status, str(refused)
        except DatabaseUnavailable as exc:
            # Never 200 for a delivery that is not stored: Meta retries a 503.
            log.error("database unavailable; answered 503 so Meta retries: %s", exc, extra={"request_id": request_id})
            headers.append(("Retry-After", "5"))
            status, text = 503, "Service unavailable"
        except Exception:
            log.exception("unhandled error in the webhook receiver", extra={"request_id": request_id})
            status, text = 500, "Internal server error"
        body = text.encode()
        headers.append(("Content-Length", str(len(body))))
        start_response(_STATUS_LINES[status], headers)
        # Accepted deliveries are summed up in intake.py's log line; a line each would be thousands a second.
        request_log.log(logging.DEBUG if status == 200 and method == "POST" else logging.INFO,
                        "%s %s %s %.1fms", method, path, status, (time.perf_counter() - started) * 1000,
                        extra={"request_id": request_id})
        return [] if method == "HEAD" else [body]

    def verify(self, environ, request_id: str) -> str:
        """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
        args = {name: values[0] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        expected = self.settings.meta_verify_token
        if (args.get("hub.mode") != "subscribe" or not expected
                or not hmac.compare_digest(args.get("hub.verify_token", "").encode(), expected.encode())):
            raise Refused(403, "Forbidden")
        intake.mark_verified(self.db)
        log.info("webhook verification handshake accepted on %s", environ.get("PATH_INFO"),
                 extra={"request_id": request_id})
        return args.get("hub.challenge", "")

    def receive(self, environ, request_id: str) -> str:
        """Check the signature, then commit the delivery and its events before answering 200."""
        if self.settings.webhook_require_mtls:
            self._require_client_certificate(environ, request_id)
        raw = self._body(environ)
        try:
            intake.verify_signature(raw, environ.get("HTTP_X_HUB_SIGNATURE_256"), self.app_secrets)
        except intake.InvalidSignature as exc:
            log.warning("webhook refused: %s", exc, extra={"request_id": request_id})
            raise Refused(401, "Invalid signature") from None
        try:
            envelope = intake.parse_envelope(raw)
            stored = self.intake.store(raw, envelope, intake.request_json(environ))
        except intake.InvalidEnvelope as exc:
            log.warning("webhook refused: %s", exc, extra={"request_id": request_id})
            raise Refused(400, f"Bad request: {exc}") from None
        if stored.duplicate:
            log.info("duplicate %s delivery acknowledged; nothing stored", envelope.object,
                     extra={"request_id": request_id})
        return "EVENT_RECEIVED"

    def _require_client_certificate(self, environ, request_id: str) -> None:
        """With WEBHOOK_REQUIRE_MTLS, only deliveries nginx verified as Meta's client certificate.

        nginx sets both headers on every request it proxies (a client's own are replaced), and
        gunicorn listens on 127.0.0.1 only, so nothing but nginx can set them.
        """
        verified = environ.get("HTTP_X_CLIENT_VERIFY", "")
        common_name = environ.get("HTTP_X_CLIENT_CN", "")
        if verified != "SUCCESS" or common_name != self.settings.webhook_mtls_common_name:
            log.warning("webhook refused: client certificate %s (common name %r)", verified or "missing",
                        common_name, extra={"request_id": request_id})
            raise Refused(403, "Forbidden: Meta's client certificate is required")

    def _body(self, environ) -> bytes:
        """The raw body, refused with 413 past the limit (read no further than one byte beyond it)."""
        limit = self.settings.webhook_max_body
        declared = environ.get("CONTENT_LENGTH") or ""
        try:
            length = int(declared) if declared else None
        except ValueError:
            raise Refused(400, "Bad request: invalid Content-Length") from None
        if length is not None and length > limit:
            raise Refused(413, "Payload too large")
        stream = environ["wsgi.input"]
        if length is None and not environ.get("wsgi.input_terminated"):
            return b""  # no length and no chunked framing: there is no body to wait for
        try:
            raw = stream.read(length) if length is not None else stream.read(limit + 1)
        except Exception as exc:  # noqa: BLE001 - werkzeug raises OSError, gunicorn its ParseException subclasses
            raise Refused(400, f"Bad request: broken chunked framing ({exc.__class__.__name__})") from None
        if len(raw) > limit:
            raise Refused(413, "Payload too large")
        return raw


class Dispatch:
    """WSGI middleware: requests for the receivers' paths go to the receiver, the rest to the main app."""

    def __init__(self, main_app, receiver: Receiver):
        self.main_app = main_app
        self.receiver = receiver

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") in PATHS:
            return self.receiver(environ, start_response)
        return self.main_app(environ, start_response)
