"""JSON routes for conversations (SPEC 15) under /api/conversations, and the inbox pages at /inbox."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, jsonify, make_response, render_template, request
from flask_login import current_user, login_required

from webhook_app.conversations import inbox
from webhook_app.db import get_db
from webhook_app.web.errors import error_response
from webhook_app.web.listing import BadListRequest, parse_limit
from webhook_app.web.request_hooks import SECURITY_HEADERS

# Thumbnails come from Meta's CDNs (Instagram and Messenger attachment URLs), and from the sandbox in development.
MEDIA_HOSTS = ("https://*.fbsbx.com", "https://*.fbcdn.net", "https://*.cdninstagram.com")

BIGINT_MAX = 2**63 - 1   # an id past PostgreSQL's bigint names nothing: 404, not a database error
bp = Blueprint("conversations", __name__, url_prefix="/conversations")
pages = Blueprint("inbox", __name__, url_prefix="/inbox")


@bp.before_request
@login_required
def _require_login():
    """Every route here is the logged-in user's."""


@bp.errorhandler(BadListRequest)
def _bad_request(exc: BadListRequest):
    return error_response(400, str(exc))


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = (request.args.get(name) or "").strip()
    if value and value not in allowed:
        raise BadListRequest(f"'{name}' must be one of: {', '.join(allowed)}.")
    return value or None


def _filters() -> inbox.ConversationFilter:
    args = request.args
    q = (args.get("q") or "").strip()
    account = (args.get("account") or "").strip()
    for name, value in (("q", q), ("account", account)):
        if "\x00" in value:
            raise BadListRequest(f"'{name}' must not contain NUL characters.")
        if len(value) > inbox.MAX_QUERY:
            raise BadListRequest(f"'{name}' must be at most {inbox.MAX_QUERY} characters.")
    unread = (args.get("unread") or "").strip().lower()
    if unread not in ("", "0", "1", "true", "false"):
        raise BadListRequest("'unread' must be true or false.")
    return inbox.ConversationFilter(channel=_choice("channel", inbox.CHANNELS), kind=_choice("kind", inbox.THREADS),
                                    account=account or None, unread=unread in ("1", "true"), q=q or None)


def _not_found():
    return error_response(404, "No such conversation.")


@bp.get("")
def list_conversations():
    rows, cursor = inbox.list_conversations(get_db(), current_user.id, _filters(), request.args.get("before"),
                                            parse_limit(request.args.get("limit")))
    return jsonify(conversations=rows, next_cursor=cursor)


@bp.get("/<int:conversation_id>")
def detail(conversation_id: int):
    if conversation_id > BIGINT_MAX:
        return _not_found()
    found = inbox.get_conversation(get_db(), current_user.id, conversation_id, request.args.get("before"),
                                   parse_limit(request.args.get("limit")))
    return jsonify(found) if found else _not_found()


@bp.post("/<int:conversation_id>/read")
def read(conversation_id: int):
    if conversation_id > BIGINT_MAX or not inbox.mark_read(get_db(), current_user.id, conversation_id):
        return _not_found()
    return jsonify(id=conversation_id, unread_count=0)


def _page(html: str):
    """An inbox page, whose CSP also lets attachment thumbnails load from where Meta serves them."""
    settings = current_app.config["SETTINGS"]
    hosts = list(MEDIA_HOSTS)
    if settings.sandbox_enabled:
        graph = urlsplit(settings.meta_graph_url)
        hosts.append(f"{graph.scheme}://{graph.netloc}")
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace("img-src 'self' data:",
                                                                 "img-src 'self' data: " + " ".join(hosts))
    response = make_response(html)
    response.headers["Content-Security-Policy"] = policy
    return response


@pages.get("")
@login_required
def index():
    """The conversation list; the script fills it from the API."""
    return _page(render_template("inbox/list.html", page="inbox"))


@pages.get("/<int:conversation_id>")
@login_required
def conversation(conversation_id: int):
    """One conversation's messages as bubbles; someone else's is a 404 page."""
    if conversation_id > BIGINT_MAX or inbox.get_conversation(get_db(), current_user.id, conversation_id, None, 1) is None:
        abort(404, "No such conversation.")
    return _page(render_template("inbox/conversation.html", conversation_id=conversation_id, page="inbox"))
