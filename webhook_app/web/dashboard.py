"""The logged-in pages: Overview at `/`, Events (and one event's own page), Accounts, Templates, Health.

The pages are shells the scripts in static/js/ fill from the JSON API, live from /api/stream;
what the server knows cheaply (accounts, Pages, one event's existence) it renders itself.
"""
from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user, login_required

from webhook_app.accounts import store as accounts
from webhook_app.db import get_db
from webhook_app.webhooks import events

bp = Blueprint("dashboard", __name__)

# (key, path, label) of the navigation bar, in its order; the Inbox is the conversations area's pages.
NAV = [("overview", "/", "Overview"), ("inbox", "/inbox", "Inbox"), ("events", "/events", "Events"),
       ("accounts", "/accounts", "Accounts"), ("templates", "/templates", "Templates"),
       ("health", "/health", "Health")]


@bp.app_context_processor
def _navigation():
    return {"nav_items": NAV}


def _connected():
    window = current_app.config["SETTINGS"].token_refresh_window_days
    return accounts.list_accounts(get_db(), current_user.id, window)


@bp.get("/")
@login_required
def index():
    return render_template("dashboard.html", page="overview", connected=_connected())


@bp.get("/events")
@login_required
def events_page():
    return render_template("events.html", page="events")


@bp.get("/events/<int:event_id>")
@login_required
def event_page(event_id: int):
    """One event's own link: 404 for an id that is not the user's, like one that does not exist."""
    if events.get_event(get_db(), current_user.id, event_id) is None:
        abort(404, "No such event.")
    return render_template("event.html", page="events", event_id=event_id)


@bp.get("/accounts")
@login_required
def accounts_page():
    return render_template("accounts.html", page="accounts", connected=_connected(),
                           pages=accounts.list_pages(get_db(), current_user.id))


@bp.get("/templates")
@login_required
def templates_page():
    return render_template("templates.html", page="templates")


@bp.get("/health")
@login_required
def health_page():
    settings = current_app.config["SETTINGS"]
    return render_template("health.html", page="health", graph_version=settings.meta_graph_version)
