"""The logged-in landing page at `/`."""
from flask import Blueprint, current_app, render_template
from flask_login import login_required

bp = Blueprint("dashboard", __name__)

# The connect flows (issue 4); a button is shown only once its route exists in this app.
CONNECT_LINKS = (("/connect/meta", "Connect Instagram / Facebook"),
                 ("/connect/whatsapp", "Connect WhatsApp"),
                 ("/connect/tiktok", "Connect TikTok"))


def _connect_links() -> list[tuple[str, str]]:
    routes = {rule.rule for rule in current_app.url_map.iter_rules()}
    return [(path, label) for path, label in CONNECT_LINKS if path in routes]


@bp.get("/")
@login_required
def index():
    return render_template("dashboard.html", connect_links=_connect_links())
