"""The Meta sandbox (SPEC 11): a separate small server imitating what this project calls at Meta and TikTok.

The app knows it only by its base URLs (`sandbox_urls`): the same paths, parameters, JSON shapes,
paging and error bodies as Meta's and TikTok's, under /graph, /facebook, /instagram, /instagram-web,
/instagram-api, /tiktok and /tiktok-web. Its world lives in `state.SandboxState`; its controls are under /_sandbox/.
It refuses to exist in production.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler

from webhook_app.config import SANDBOX_PATHS, ConfigError, Settings
from webhook_app.sandbox.state import SandboxState


def sandbox_urls(base_url: str) -> dict[str, str]:
    """Settings fields that point the app at a sandbox served at `base_url`."""
    base = base_url.rstrip("/")
    return {name: base + path for name, path in SANDBOX_PATHS.items()}


def sandbox_env(base_url: str) -> dict[str, str]:
    """The same as environment variables, for `make run`'s child processes."""
    return {name.upper(): value for name, value in sandbox_urls(base_url).items()}


# GETs of the control page that only read: every other request may change the world and saves it.
_READ_ONLY = ("/_sandbox/", "/_sandbox/api/state", "/_sandbox/api/counters")
# Sends are not part of the saved world (sandbox/messaging.py keeps them in memory): they need no save.
_SEND_PATHS = ("/messages", "/replies", "/comments")


def create_sandbox_app(settings: Settings, *, webhook_url: str | None = None,
                       state: SandboxState | None = None, world_path: Path | None = None) -> Flask:
    """The sandbox server; webhooks it sends go to `webhook_url` (default: the app's /webhook).

    With `world_path` its world is loaded from that file and saved back after every change.
    """
    if settings.production:
        raise ConfigError("the Meta sandbox cannot run when APP_ENV=production")
    from webhook_app.sandbox import controls, instagram_login, messaging, meta, samples, tiktok

    app = Flask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    base = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    app.extensions["sandbox"] = state or SandboxState(settings.current_meta_app_secret,
                                                      webhook_url or f"{base}/webhook")
    app.config["SANDBOX_SETTINGS"] = settings
    if world_path is not None:
        _keep_world(app, app.extensions["sandbox"], world_path)
    for bp in (meta.dialog_bp, meta.graph_bp, meta.instagram_bp, tiktok.auth_bp, tiktok.api_bp, controls.bp,
               samples.cdn_bp, *instagram_login.blueprints, messaging.bp, messaging.ig_bp,
               messaging.controls_bp):
        app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify(error={"message": exc.description, "type": "SandboxException", "code": exc.code}), exc.code

    return app


def _keep_world(app: Flask, world: SandboxState, path: Path) -> None:
    from webhook_app.sandbox import persistence

    if not persistence.restore(world, path):
        persistence.save(world, path)
    autosave = app.extensions["sandbox_autosave"] = persistence.AutoSave(world, path).start()

    @app.after_request
    def _changed(response):
        if not (request.method in ("GET", "HEAD") and request.path in _READ_ONLY) \
                and not request.path.startswith("/_sandbox/api/messaging") \
                and not (request.path.startswith(("/graph/", "/instagram/")) and request.path.endswith(_SEND_PATHS)):
            autosave.changed()
        return response


class PathOnlyHandler(WSGIRequestHandler):
    """Logs method and path without the query string: Meta's query strings carry tokens."""

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s', self.command, path, code)
