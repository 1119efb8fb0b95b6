"""Insta Connect: the Flask application factory."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, jsonify, redirect, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from webhook_app import db
from webhook_app.accounts import connect, instagram_login, metrics_views
from webhook_app.accounts import views as account_views
from webhook_app.auth import users
from webhook_app.auth import views as auth_views
from webhook_app.config import Settings, load_settings
from webhook_app.conversations import views as conversation_views
from webhook_app.db import with_database_url
from webhook_app.logging_setup import configure_logging
from webhook_app.message_templates import views as template_views
from webhook_app.outbound import views as outbound_views
from webhook_app.timed_jobs import views as timed_job_views
from webhook_app.tokens import views as token_views
from webhook_app.web import dashboard, errors, health, params, request_hooks, stream
from webhook_app.web.api import create_api_blueprint
from webhook_app.web.extensions import csrf, limiter, login_manager
from webhook_app.web.sessions import PostgresSessionInterface
from webhook_app.webhooks import event_views, health_views, inbox_views, receiver


def create_app(settings: Settings | None = None, test_config: dict | None = None) -> Flask:
    """Build the app: settings first, then the database, sessions, security and blueprints."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    settings = with_database_url(settings)
    database_url = settings.database_url

    app = Flask(__name__)
    app.config.from_mapping(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        BCRYPT_ROUNDS=settings.bcrypt_rounds,
        RATELIMITS=dict(settings.ratelimits),
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri or database_url,
        RATELIMIT_KEY_PREFIX="insta-connect",
        SESSION_COOKIE_NAME="insta_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        SESSION_REFRESH_EACH_REQUEST=False,
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.session_lifetime_days),
        MAX_CONTENT_LENGTH=settings.webhook_max_body,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session it belongs to
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    database = db.Database(database_url, maxconn=settings.db_pool_max)
    # The receivers write through a pool of their own: a flood of deliveries never holds the
    # dashboard's connections, and only one batch per worker is written at a time (group commit).
    # No session settings (PgBouncer refuses startup options): the intake function sets its own.
    intake_database = database.sibling(maxconn=2, application_name="insta-connect-intake", autocommit=True)
    app.wsgi_app = receiver.Dispatch(app.wsgi_app, receiver.Receiver(settings, intake_database))
    if settings.trusted_proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count,
                                x_proto=settings.trusted_proxy_count, x_host=settings.trusted_proxy_count)

    params.init_app(app)  # before the blueprints: their <int:> rules use its converter
    db.init_app(app, database)
    app.session_interface = PostgresSessionInterface(app, database)
    request_hooks.init_app(app)  # first, so even a refused request carries its request id
    csrf.init_app(app)
    limiter.init_app(app)
    _init_login(app)
    errors.init_app(app)

    app.register_blueprint(health.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(connect.bp)
    app.register_blueprint(instagram_login.bp)
    app.register_blueprint(conversation_views.pages)
    app.register_blueprint(create_api_blueprint([
        account_views.bp, event_views.bp, inbox_views.bp, token_views.bp, template_views.bp,
        health_views.bp, metrics_views.bp, timed_job_views.bp, stream.bp, conversation_views.bp, outbound_views.bp,
    ]))
    stream.init_app(app, database, database_url)
    token_views.init_app(app)
    account_views.init_app(app)

    @app.context_processor
    def _settings():
        return {"settings": settings}

    return app


def _init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = None  # the session id is regenerated at login instead

    @login_manager.user_loader
    def _load(user_id: str):
        return users.load_user(db.get_db(), user_id)

    @login_manager.unauthorized_handler
    def _unauthorized():
        if request.path.startswith("/api/") or errors.wants_json():
            return jsonify(error="Log in first."), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
