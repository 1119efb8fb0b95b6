"""Meta imitated: the Facebook Login dialog, the Graph API and graph.instagram.com.

Paths and shapes follow Meta's: `/{version}/dialog/oauth`, `/{version}/oauth/access_token`,
`/{version}/debug_token`, `/{version}/me/accounts`, `/{version}/{id}`, `/{id}/subscribed_apps`,
`/{id}/phone_numbers`, `/{id}/message_templates`, `/{id}/media`, and Instagram's
`/refresh_access_token`. Mounted under /facebook, /graph and /instagram of the sandbox.
"""
from __future__ import annotations

import time
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template_string, request

from webhook_app.sandbox import samples
from webhook_app.sandbox.common import api_route, bearer_token, check_proof, paged, param, select, state
from webhook_app.sandbox.state import LONG_LIVED_SECONDS, SHORT_LIVED_SECONDS, MetaUser, SandboxError, Token, meta_error

dialog_bp = Blueprint("sandbox_dialog", __name__, url_prefix="/facebook")
graph_bp = Blueprint("sandbox_graph", __name__, url_prefix="/graph")
instagram_bp = Blueprint("sandbox_instagram", __name__, url_prefix="/instagram")

CONSENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{{ title }}</title>
<style>body{font:15px system-ui,sans-serif;background:#f0f2f5;margin:0}
main{max-width:460px;margin:3rem auto;background:#fff;border-radius:8px;padding:1.5rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.2rem}.scopes{color:#444}.actions{display:flex;gap:.75rem;margin-top:1.25rem}
button{font:inherit;padding:.55rem 1.2rem;border-radius:6px;border:0;cursor:pointer}
.approve{background:#1877f2;color:#fff}.deny{background:#e4e6eb}.note{color:#666;font-size:.85rem}</style>
</head><body><main>
<p class="note">{{ brand }} sandbox — nothing here is real.</p>
<h1>{{ title }}</h1>
<p><strong>{{ client_id }}</strong> is asking to:</p>
<ul class="scopes">{% for s in scopes %}<li>{{ s }}</li>{% endfor %}</ul>
<form method="post">
  {% for k, v in hidden.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
  {% if people|length > 1 %}<label>Continue as
    <select name="subject">{% for p in people %}<option value="{{ p[0] }}">{{ p[1] }}</option>{% endfor %}</select>
  </label>{% else %}<p>Continue as <strong>{{ people[0][1] }}</strong></p>
  <input type="hidden" name="subject" value="{{ people[0][0] }}">{% endif %}
  <div class="actions">
    <button class="approve" type="submit" name="decision" value="approve">Approve</button>
    <button class="deny" type="submit" name="decision" value="deny">Deny</button>
  </div>
</form></main></body></html>"""


def consent(brand: str, title: str, client_id: str, scopes: list[str], people: list[tuple[str, str]]):
    hidden = {k: v for k, v in request.args.items()}
    return render_template_string(CONSENT_PAGE, brand=brand, title=title, client_id=client_id, scopes=scopes,
                                  people=people, hidden=hidden)


def back_to(redirect_uri: str, params: dict):
    joiner = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{joiner}{urlencode(params)}", code=302)


@dialog_bp.route("/<version>/dialog/oauth", methods=["GET", "POST"])
def oauth_dialog(version: str):
    """Facebook Login's consent page; Approve sends a code back, Deny sends error=access_denied."""
    client_id, redirect_uri = param("client_id"), param("redirect_uri")
    if not client_id or not redirect_uri or not redirect_uri.startswith(("http://", "https://")):
        abort(400, "client_id and an absolute redirect_uri are required")
    scopes = [s for s in (param("scope") or "").replace(" ", ",").split(",") if s]
    sandbox = state()
    if request.method == "GET":
        people = [(u.id, u.name) for u in sandbox.users.values()]
        return consent("Facebook", "Log in with Facebook", client_id, scopes, people)
    back = {"state": param("state", "")}
    if request.form.get("decision") != "approve":
        return back_to(redirect_uri, {"error": "access_denied", "error_code": "200",
                                      "error_description": "Permissions error", "error_reason": "user_denied", **back})
    subject = request.form.get("subject") or sandbox.default_meta_user().id
    code = sandbox.issue_code("meta", subject, redirect_uri, scopes)
    return back_to(redirect_uri, {"code": code, **back})


# ---- Graph API -------------------------------------------------------------------------------------

def _owner(token: Token) -> MetaUser | None:
    sandbox = state()
    if token.kind in ("user_short", "user_long"):
        return sandbox.users.get(token.subject)
    if token.kind == "page":
        return sandbox.page_owner(token.subject)
    return None


def _require_scope(token: Token, scope: str) -> None:
    if token.kind in ("user_short", "user_long") and scope not in token.scopes:
        raise meta_error(403, f"(#200) Requires {scope} permission to manage the object", 200)


def _unknown(object_id: str) -> SandboxError:
    return meta_error(400, f"Unsupported {request.method.lower()} request. Object with ID '{object_id}' does not "
                           "exist, cannot be loaded due to missing permissions, or does not support this operation. "
                           "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                      100, subcode=33, error_type="GraphMethodException")


def _token() -> Token:
    value = bearer_token()
    token = state().check_meta_token(value)
    check_proof(value)
    return token


@graph_bp.route("/<version>/oauth/access_token", methods=["GET", "POST"])
@api_route("meta")
def access_token(version: str):
    """Code -> short-lived user token, or `fb_exchange_token` -> long-lived user token."""
    sandbox = state()
    if param("client_secret") != sandbox.app_secret:
        raise meta_error(400, "Error validating client secret.", 1)
    if param("grant_type") == "fb_exchange_token":
        short = sandbox.check_meta_token(param("fb_exchange_token"), kinds=("user_short", "user_long"))
        token = sandbox.issue_token("user_long", short.subject, short.scopes, lifetime=LONG_LIVED_SECONDS)
        return {"access_token": token.value, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
    code = sandbox.redeem_code(param("code"), param("redirect_uri"))
    token = sandbox.issue_token("user_short", code.subject, code.scopes, lifetime=SHORT_LIVED_SECONDS)
    return {"access_token": token.value, "token_type": "bearer", "expires_in": SHORT_LIVED_SECONDS}


@graph_bp.route("/<version>/debug_token", methods=["GET", "POST"])
@api_route("meta")
def debug_token(version: str):
    """Meta's view of `input_token`; the caller authenticates with the app token `id|secret`."""
    sandbox = state()
    if request.method == "POST" and (param("method") or "").upper() != "GET":
        raise _unknown("debug_token")
    app_token = bearer_token() or ""
    app_id, _, secret = app_token.partition("|")
    if secret != sandbox.app_secret:
        raise meta_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
    value = param("input_token")
    if not value:
        raise meta_error(400, "(#100) The parameter input_token is required", 100)
    token = sandbox.tokens.get(value)
    problem = sandbox.token_problem(token)
    data: dict = {"app_id": app_id, "application": "Insta Connect", "is_valid": problem is None}
    if token is None:
        data["error"] = {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"}
        return {"data": data}
    user = _owner(token)
    data.update({
        "type": {"page": "PAGE", "instagram": "USER"}.get(token.kind, "USER"),
        "issued_at": int(token.issued_at),
        "expires_at": int(token.expires_at) if token.expires_at else 0,
        "data_access_expires_at": int(token.issued_at + 90 * 86400),
        "scopes": token.scopes,
        "user_id": user.id if user else token.subject,
    })
    if token.kind == "page":
        data["profile_id"] = token.subject
    if user is not None:
        granular = []
        if any(s.startswith("pages_") for s in token.scopes):
            granular.append({"scope": "pages_show_list", "target_ids": list(user.page_ids)})
        for scope in ("whatsapp_business_management", "whatsapp_business_messaging"):
            if scope in token.scopes:
                granular.append({"scope": scope, "target_ids": list(user.waba_ids)})
        data["granular_scopes"] = granular
    if problem == "expired":
        data["error"] = {"code": 190, "subcode": 463, "message": "Error validating access token: Session has expired."}
    elif problem == "revoked":
        data["error"] = {"code": 190, "subcode": 458,
                         "message": "Error validating access token: The user has not authorized application."}
    return {"data": data}


@graph_bp.route("/<version>/me", methods=["GET"])
@api_route("meta")
def me(version: str):
    token = _token()
    sandbox = state()
    if token.kind == "page":
        page = sandbox.pages[token.subject]
        return select({"id": page.id, "name": page.name, "category": page.category}, param("fields"), ("id", "name"))
    user = sandbox.users.get(token.subject)
    if user is None:
        raise _unknown("me")
    return select({"id": user.id, "name": user.name}, param("fields"), ("id", "name"))


@graph_bp.get("/<version>/me/accounts")
@api_route("meta")
def me_accounts(version: str):
    """The person's Pages, each with a Page token (derived from the user token) and requested fields."""
    token = _token()
    sandbox = state()
    if token.kind not in ("user_short", "user_long"):
        raise meta_error(400, "(#100) Tried accessing nonexisting field (accounts) on node type (Page)", 100)
    _require_scope(token, "pages_show_list")
    user = sandbox.users[token.subject]
    lifetime = None if token.kind == "user_long" else SHORT_LIVED_SECONDS
    rows = []
    for page_id in user.page_ids:
        page = sandbox.pages[page_id]
        page_token = sandbox.issue_token("page", page.id, token.scopes, lifetime=lifetime, parent=token.value)
        obj = {"id": page.id, "name": page.name, "category": page.category, "access_token": page_token.value,
               "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]}
        if page.ig_id:
            ig = sandbox.instagram[page.ig_id]
            obj["instagram_business_account"] = {"id": ig.id, "username": ig.username, "name": ig.name}
        rows.append(select(obj, param("fields"), ("id", "name", "category", "access_token", "tasks")))
    return paged(rows)


def _page_view(page_id: str, token: Token) -> dict:
    sandbox = state()
    page = sandbox.pages[page_id]
    owner = _owner(token)
    if not (token.kind == "page" and token.subject == page_id) and not (owner and page_id in owner.page_ids):
        raise _unknown(page_id)
    obj = {"id": page.id, "name": page.name, "category": page.category}
    if page.ig_id:
        ig = sandbox.instagram[page.ig_id]
        obj["instagram_business_account"] = {"id": ig.id, "username": ig.username, "name": ig.name}
    return select(obj, param("fields"), ("id", "name"))


def _instagram_obj(ig_id: str) -> dict:
    ig = state().instagram[ig_id]
    return {"id": ig.id, "ig_id": ig.id, "username": ig.username, "name": ig.name,
            "profile_picture_url": f"https://scontent.cdninstagram.com/sandbox/{ig.id}.jpg",
            "followers_count": ig.followers_count, "follows_count": ig.follows_count, "media_count": len(ig.media),
            "biography": "A sandbox account", "website": "https://example.com"}


def _may_see_instagram(ig_id: str, token: Token) -> bool:
    sandbox = state()
    if token.kind == "instagram":
        return token.subject == ig_id
    if token.kind == "page":
        return sandbox.pages[token.subject].ig_id == ig_id
    owner = _owner(token)
    return bool(owner) and any(sandbox.pages[p].ig_id == ig_id for p in owner.page_ids)


def _waba_for(waba_id: str, token: Token):
    owner = _owner(token)
    if owner is None or waba_id not in owner.waba_ids:
        raise _unknown(waba_id)
    _require_scope(token, "whatsapp_business_management")
    return state().wabas[waba_id]


@graph_bp.route("/<version>/<object_id>", methods=["GET"])
@api_route("meta")
def graph_object(version: str, object_id: str):
    """A Page, an Instagram account, a WhatsApp Business account or a person, by id."""
    token = _token()
    sandbox = state()
    if object_id in sandbox.pages:
        return _page_view(object_id, token)
    if object_id in sandbox.instagram and _may_see_instagram(object_id, token):
        return select(_instagram_obj(object_id), param("fields"), ("id", "username"))
    if object_id in sandbox.wabas:
        waba = _waba_for(object_id, token)
        return select({"id": waba.id, "name": waba.name, "currency": waba.currency,
                       "timezone_id": waba.timezone_id, "message_template_namespace": waba.namespace},
                      param("fields"), ("id", "name"))
    if object_id in sandbox.users and token.subject == object_id:
        user = sandbox.users[object_id]
        return select({"id": user.id, "name": user.name}, param("fields"), ("id", "name"))
    if object_id in samples.PROFILES:  # the profile API: a customer who wrote to one of the accounts
        picture = f"{request.host_url.rstrip('/')}/cdn/profile/{object_id}.png"
        return select({"id": object_id, **samples.PROFILES[object_id], "profile_pic": picture}, param("fields"),
                      ("id",))
    raise _unknown(object_id)


@graph_bp.route("/<version>/<object_id>/subscribed_apps", methods=["GET", "POST", "DELETE"])
@api_route("meta")
def subscribed_apps(version: str, object_id: str):
    """Subscribe our app to a Page's (Page token) or a WhatsApp Business account's webhooks."""
    token = _token()
    sandbox = state()
    app = {"name": "Insta Connect", "id": "sandbox-app", "category": "Business", "link": "https://example.com"}
    if object_id in sandbox.wabas:
        waba = _waba_for(object_id, token)
        if request.method == "POST":
            waba.subscribed = True
        elif request.method == "DELETE":
            waba.subscribed = False
        else:
            return {"data": [{"whatsapp_business_api_data": app}] if waba.subscribed else []}
        return {"success": True}
    if object_id not in sandbox.pages:
        raise _unknown(object_id)
    if not (token.kind == "page" and token.subject == object_id):
        raise meta_error(403, "(#210) A page access token is required to request this resource.", 210)
    page = sandbox.pages[object_id]
    if request.method == "GET":
        return {"data": [{**app, "subscribed_fields": page.subscribed_fields}] if page.subscribed_fields is not None
                else []}
    if request.method == "DELETE":
        page.subscribed_fields = None
        return {"success": True}
    fields = [f for f in (param("subscribed_fields") or "").split(",") if f]
    if not fields:
        raise meta_error(400, "(#100) The parameter subscribed_fields is required.", 100)
    page.subscribed_fields = fields
    return {"success": True}


@graph_bp.get("/<version>/<object_id>/phone_numbers")
@api_route("meta")
def phone_numbers(version: str, object_id: str):
    waba = _waba_for(object_id, _token())
    fields = param("fields")
    return paged([select(p, fields, ("id", "display_phone_number", "verified_name", "quality_rating",
                                     "code_verification_status")) for p in waba.phone_numbers])


@graph_bp.get("/<version>/<object_id>/message_templates")
@api_route("meta")
def message_templates(version: str, object_id: str):
    waba = _waba_for(object_id, _token())
    fields = param("fields")
    rows = list(waba.templates)
    if param("status"):
        rows = [t for t in rows if t["status"] == param("status")]
    return paged([select(t, fields, ("name", "components", "language", "status", "category", "id")) for t in rows])


def _media(object_id: str, token: Token) -> dict:
    sandbox = state()
    if object_id not in sandbox.instagram or not _may_see_instagram(object_id, token):
        raise _unknown(object_id)
    fields = param("fields")
    return paged([select(m, fields, ("id",)) for m in sandbox.instagram[object_id].media])


@graph_bp.get("/<version>/<object_id>/media")
@api_route("meta")
def media(version: str, object_id: str):
    return _media(object_id, _token())


# ---- graph.instagram.com ---------------------------------------------------------------------------

def _instagram_token() -> Token:
    value = bearer_token()
    token = state().check_meta_token(value)
    if token.kind != "instagram":
        raise meta_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
    return token


@instagram_bp.get("/refresh_access_token")
@instagram_bp.get("/<version>/refresh_access_token")
@api_route("instagram")
def refresh_access_token(version: str | None = None):
    """A new 60-day token for a long-lived one that is at least 24 hours old and not expired."""
    if param("grant_type") != "ig_refresh_token":
        raise meta_error(400, "(#100) grant_type must be ig_refresh_token", 100)
    token = _instagram_token()
    if time.time() - token.issued_at < 24 * 3600:
        raise meta_error(400, "(#100) The access token can only be refreshed 24 hours after it was issued.", 100)
    fresh = state().issue_token("instagram", token.subject, token.scopes, lifetime=LONG_LIVED_SECONDS)
    return {"access_token": fresh.value, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS,
            "permissions": ",".join(token.scopes)}


@instagram_bp.get("/me")
@instagram_bp.get("/<version>/me")
@api_route("instagram")
def instagram_me(version: str | None = None):
    token = _instagram_token()
    obj = _instagram_obj(token.subject)
    obj.update(user_id=token.subject, account_type="BUSINESS")
    return select(obj, param("fields"), ("id", "username"))


@instagram_bp.get("/<version>/<object_id>")
@api_route("instagram")
def instagram_object(version: str, object_id: str):
    token = _instagram_token()
    if token.subject != object_id:
        raise _unknown(object_id)
    return select(_instagram_obj(object_id), param("fields"), ("id", "username"))


@instagram_bp.get("/<version>/<object_id>/media")
@api_route("instagram")
def instagram_media(version: str, object_id: str):
    return _media(object_id, _instagram_token())
