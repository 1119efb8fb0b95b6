"""GET /healthz: the process answers and the database is reachable."""
from flask import Blueprint, jsonify

from webhook_app.db import get_db
from webhook_app.exceptions import DatabaseUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        get_db().ping()
    except DatabaseUnavailable:
        return jsonify(status="degraded", database="unavailable"), 503
    return jsonify(status="ok", database="ok")
