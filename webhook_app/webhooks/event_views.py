"""JSON routes for the user's webhook events under /api/webhook-events (SPEC 6)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_required

from webhook_app.db import get_db
from webhook_app.web import params
from webhook_app.web.errors import error_response
from webhook_app.web.listing import BadListRequest, parse_limit, parse_time
from webhook_app.web.serialize import jsonable
from webhook_app.webhooks import events
from webhook_app.webhooks import stats as event_stats

bp = Blueprint("webhook_events", __name__, url_prefix="/webhook-events")


@bp.before_request
@login_required
def _require_login():
    """Every route here is the logged-in user's."""


@bp.errorhandler(BadListRequest)
def _bad_request(exc: BadListRequest):
    return error_response(400, str(exc))


@bp.errorhandler(events.NotRetryable)
def _not_retryable(exc: events.NotRetryable):
    return error_response(409, str(exc))


def _filters(source) -> events.EventFilter:
    def text(name):
        return params.text(name, source.get(name))

    return events.EventFilter(status=text("status"), object=text("object"), field=text("field"),
                              account=text("account"), q=text("q"), since=parse_time("since", text("since")), until=parse_time("until", text("until")))


def _not_found():
    return error_response(404, "No such event.")


@bp.get("")
def list_events():
    rows, next_cursor = events.list_events(get_db(), current_user.id, _filters(request.args),
                                           request.args.get("before"), parse_limit(request.args.get("limit")))
    return jsonify(events=[jsonable(row) for row in rows], next_cursor=next_cursor)


@bp.get("/stats")
def stats():
    return jsonify(event_stats.stats(get_db(), current_user.id))


@bp.get("/activity")
def activity():
    """Activity over 7 or 30 days (`?range=7d|30d`), per hour or day; the last 24 h are in /stats."""
    found = event_stats.activity(get_db(), current_user.id, request.args.get("range", ""))
    return jsonify(found) if found else error_response(400, "'range' must be 7d or 30d.")


@bp.get("/choices")
def choices():
    """The objects, fields and accounts the user's events hold, for the filters."""
    return jsonify(events.choices(get_db(), current_user.id))


@bp.post("/bulk")
def bulk():
    """Retry, replay or delete a selection: JSON {"action": "retry"|"replay"|"delete", "ids": [...]}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, 'Send JSON: {"action": "retry", "ids": [1, 2]}.')
    return jsonify(events.bulk(get_db(), current_user.id, body.get("action"), body.get("ids")))


@bp.post("/retry")
def retry_matching():
    """Retry every failed or dead-letter event matching the filter (JSON body or query string)."""
    source = params.json_object(required=request.is_json)
    retried = events.retry_matching(get_db(), current_user.id, _filters(source or request.args))
    return jsonify(retried=retried)


@bp.get("/<int:event_id>")
def detail(event_id: int):
    event = events.get_event(get_db(), current_user.id, event_id)
    return jsonify(jsonable(event)) if event else _not_found()


@bp.post("/<int:event_id>/retry")
def retry(event_id: int):
    event = events.retry_event(get_db(), current_user.id, event_id)
    return jsonify(jsonable(event)) if event else _not_found()


@bp.post("/<int:event_id>/replay")
def replay(event_id: int):
    """Run any event again (a processed one too): the handlers are idempotent by Meta's ids."""
    event = events.replay_event(get_db(), current_user.id, event_id)
    return jsonify(jsonable(event)) if event else _not_found()


@bp.delete("/<int:event_id>")
def delete(event_id: int):
    if not events.delete_event(get_db(), current_user.id, event_id):
        return _not_found()
    return jsonify(deleted=event_id)
