"""The logged-in landing page at `/`."""
from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required

from webhook_app.accounts import store as accounts
from webhook_app.db import get_db

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index():
    db = get_db()
    window = current_app.config["SETTINGS"].token_refresh_window_days
    return render_template("dashboard.html",
                           connected=accounts.list_accounts(db, current_user.id, window),
                           pages=accounts.list_pages(db, current_user.id))
