"""Register, log in, log out, and say who is logged in (SPEC 6, 14)."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webhook_app.auth import login_limit, users
from webhook_app.db import get_db
from webhook_app.web import params
from webhook_app.web.extensions import client_ip, limiter
from webhook_app.web.urls import safe_next

bp = Blueprint("auth", __name__, url_prefix="/auth")

LOGIN_FAILED = "Wrong email or password."


def _limit(name: str):
    return lambda: current_app.config["RATELIMITS"][name]


def _form() -> dict:
    """The form's fields (or the same as JSON), with the email checked for control characters."""
    form = dict(params.form_or_json())
    email = form.get("email", "")
    try:
        form["email"] = params.text("email", email) or "" if isinstance(email, str) else ""
        if not isinstance(form.get("password", ""), str):
            raise params.BadParameter("'password' must be text.")
    except params.BadParameter:
        raise params.BadParameter("Enter a valid email address and password.") from None
    return form


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_REGISTER"), key_func=client_ip, methods=["POST"])
def register():
    """Create an account and log it in."""
    if request.method == "GET":
        return render_template("auth/register.html")
    form = _form()
    try:
        user = users.create_user(get_db(), form.get("email", ""), form.get("password", ""),
                                 current_app.config["BCRYPT_ROUNDS"])
    except users.InvalidRegistration as exc:
        return render_template("auth/register.html", error=str(exc), email=form.get("email", "")), 400
    except users.EmailTaken as exc:
        return render_template("auth/register.html", error=str(exc), email=form.get("email", "")), 409
    _start_session(user)
    current_app.logger.info("registered user %s", user.id)
    return redirect(url_for("dashboard.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Check the email and password; only failures count against the rate limit."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url)
        return render_template("auth/login.html", next=next_url)
    form = _form()
    attempt = login_limit.take(current_app.config["RATELIMITS"]["RATELIMIT_LOGIN_FAILURES"], client_ip())
    user = users.authenticate(get_db(), form.get("email", ""), form.get("password", ""),
                              current_app.config["BCRYPT_ROUNDS"])
    if user is not None:
        attempt.give_back()
    else:
        current_app.logger.info("failed login")
        return render_template("auth/login.html", error=LOGIN_FAILED, next=next_url,
                               email=form.get("email", "")), 401
    _start_session(user)
    current_app.logger.info("user %s logged in", user.id)
    return redirect(next_url)


@bp.post("/logout")
@login_required
def logout():
    """End the session: the server-side row is deleted and the cookie cleared."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/status")
def status():
    if current_user.is_authenticated:
        return jsonify(authenticated=True, user={"id": current_user.id, "email": current_user.email})
    return jsonify(authenticated=False, user=None)


def _start_session(user: users.User) -> None:
    # A new session id at every login: an id planted before login is worth nothing after it.
    current_app.session_interface.regenerate(session)
    # A new CSRF token too: one read from the login form before it is worth nothing after it.
    session.pop("csrf_token", None)
    g.pop("csrf_token", None)
    login_user(user)
