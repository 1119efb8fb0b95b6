"""JSON route for the user's inbox: GET /api/interactions (SPEC 6)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_required

from webhook_app.db import get_db
from webhook_app.web import params
from webhook_app.web.errors import error_response
from webhook_app.web.listing import BadListRequest, parse_limit
from webhook_app.web.serialize import jsonable
from webhook_app.webhooks import inbox

bp = Blueprint("interactions", __name__, url_prefix="/interactions")


@bp.errorhandler(BadListRequest)
def _bad_request(exc: BadListRequest):
    return error_response(400, str(exc))


@bp.get("")
@login_required
def list_interactions():
    args = request.args
    rows, next_cursor = inbox.list_interactions(
        get_db(), current_user.id, args.get("before"), parse_limit(args.get("limit")),
        platform=params.text("platform", args.get("platform")), kind=params.text("kind", args.get("kind")))
    for row in rows:
        row.pop("sort_at")
    return jsonify(interactions=[jsonable(row) for row in rows], next_cursor=next_cursor)
