"""The Meta sandbox (SPEC 11): a separate small server imitating what this project calls at Meta and TikTok.

The app knows it only by its base URLs (`sandbox_urls`): the same paths, parameters, JSON shapes,
paging and error bodies as Meta's and TikTok's, under /graph, /facebook, /instagram, /tiktok and
/tiktok-web. Its world lives in `state.SandboxState`; its controls are under /_sandbox/.
It refuses to exist in production.
"""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler

from webhook_app.config import ConfigError, Settings
from webhook_app.sandbox.state import SandboxState


def sandbox_urls(base_url: str) -> dict[str, str]:
    """Settings fields that point the app at a sandbox served at `base_url`."""
    base = base_url.rstrip("/")
    return {
        "meta_graph_url": f"{base}/graph",
        "meta_dialog_url": f"{base}/facebook",
        "instagram_graph_url": f"{base}/instagram",
        "tiktok_api_url": f"{base}/tiktok",
        "tiktok_auth_url": f"{base}/tiktok-web",
    }


def sandbox_env(base_url: str) -> dict[str, str]:
    """The same as environment variables, for `make run`'s child processes."""
    return {name.upper(): value for name, value in sandbox_urls(base_url).items()}


def create_sandbox_app(settings: Settings, *, webhook_url: str | None = None,
                       state: SandboxState | None = None) -> Flask:
    """The sandbox server; webhooks it sends go to `webhook_url` (default: the app's /webhook)."""
    if settings.production:
        raise ConfigError("the Meta sandbox cannot run when APP_ENV=production")
    from webhook_app.sandbox import controls, meta, samples, tiktok

    app = Flask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    base = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    app.extensions["sandbox"] = state or SandboxState(settings.meta_app_secret,
                                                      webhook_url or f"{base}/webhook")
    for bp in (meta.dialog_bp, meta.graph_bp, meta.instagram_bp, tiktok.auth_bp, tiktok.api_bp, controls.bp,
               samples.cdn_bp):
        app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify(error={"message": exc.description, "type": "SandboxException", "code": exc.code}), exc.code

    return app


class PathOnlyHandler(WSGIRequestHandler):
    """Logs method and path without the query string: Meta's query strings carry tokens."""

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s', self.command, path, code)
