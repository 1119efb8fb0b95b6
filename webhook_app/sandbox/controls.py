"""The sandbox's own controls under /_sandbox/: a page of buttons and the JSON API behind them.

Every action accepts JSON (tests, scripts) or a form post from the page (which then returns to it):
expire / revoke / age tokens, inject Meta errors, report high usage, set a call limit, add latency,
send signed sample webhooks, seed more Pages or templates, reset.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template_string, request

from webhook_app.sandbox import samples
from webhook_app.sandbox.common import state

bp = Blueprint("sandbox_controls", __name__, url_prefix="/_sandbox")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Sandbox controls</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5rem;max-width:980px}
fieldset{margin:0 0 1rem;border:1px solid #ccd;border-radius:6px}
button{margin:.15rem}code{background:#f3f3f6;padding:0 .2rem}td,th{padding:.15rem .5rem;text-align:left}</style>
</head><body>
<h1>Meta &amp; TikTok sandbox</h1>
<p>Imitates the Graph API, Facebook Login, graph.instagram.com and TikTok Login Kit v2.
Webhooks go to <code>{{ s.webhook_url or "(unknown)" }}</code>, signed with the app secret.</p>
<fieldset><legend>Send a signed sample webhook</legend>
<form method="post" action="webhooks">{% for k in kinds %}
<button name="kind" value="{{ k }}">{{ k.replace('_', ' ') }}</button>{% endfor %}</form></fieldset>
<fieldset><legend>Tokens</legend>
<form method="post" action="tokens/expire"><button>Expire every token</button></form>
<form method="post" action="tokens/revoke"><button>Revoke every token (app removed)</button></form>
<table><tr><th>token</th><th>kind</th><th>subject</th><th>state</th></tr>
{% for t in s.tokens %}<tr><td><code>{{ t.prefix }}</code></td><td>{{ t.kind }}</td><td>{{ t.subject }}</td>
<td>{{ t.problem or "valid" }}</td></tr>{% endfor %}</table></fieldset>
<fieldset><legend>Errors and limits</legend>
<form method="post" action="faults"><input type="hidden" name="code" value="4">
<input type="hidden" name="times" value="5"><button>Next 5 calls: rate limited (code 4)</button></form>
<form method="post" action="faults"><input type="hidden" name="code" value="2">
<button>Next call: transient error (code 2)</button></form>
<form method="post" action="usage"><input type="hidden" name="percent" value="95">
<button>Report 95% usage</button></form>
<form method="post" action="usage"><input type="hidden" name="percent" value="3">
<button>Report 3% usage</button></form>
<form method="post" action="latency"><label>Latency ms <input name="ms" value="{{ s.latency_ms }}" size="5"></label>
<button>Set</button></form>
<form method="post" action="faults/clear"><button>Clear injected errors</button></form>
<p>Usage {{ s.usage_percent }}% · latency {{ s.latency_ms }} ms · pending faults {{ s.faults|length }}
· calls so far {{ s.calls }}</p></fieldset>
<fieldset><legend>World</legend>
<table><tr><th>Page</th><th>id</th><th>Instagram</th><th>subscribed fields</th></tr>
{% for p in s.pages %}<tr><td>{{ p.name }}</td><td>{{ p.id }}</td><td>{{ p.instagram_business_account or "" }}</td>
<td>{{ (p.subscribed_fields or [])|join(", ") }}</td></tr>{% endfor %}</table>
<p>WhatsApp: {% for w in s.wabas %}{{ w.name }} ({{ w.id }}, {{ w.templates }} templates,
{{ "subscribed" if w.subscribed else "not subscribed" }}) {% endfor %}</p>
<form method="post" action="seed"><input type="hidden" name="templates" value="250">
<button>Add 250 templates</button></form>
<form method="post" action="reset"><button>Reset the sandbox</button></form></fieldset>
<fieldset><legend>Last webhooks sent</legend><ul>
{% for w in s.sent_webhooks|reverse %}<li>{{ w.kind }} → {{ w.status }} {{ w.answer }}</li>{% endfor %}
</ul></fieldset></body></html>"""


def _args() -> dict:
    raw = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    return {k: v for k, v in (raw or {}).items() if v not in ("", None)}


def _done(result: dict, status: int = 200):
    if request.is_json:
        return jsonify(result), status
    return redirect("/_sandbox/", code=303)


def _match(args: dict) -> dict:
    return {k: args[k] for k in ("value", "subject", "kind") if k in args}


@bp.get("/")
def page():
    return render_template_string(PAGE, s=state().summary(), kinds=samples.KINDS)


@bp.get("/api/state")
def summary():
    return jsonify(state().summary())


@bp.post("/reset")
@bp.post("/api/reset")
def reset():
    state().reset()
    return _done({"reset": True})


@bp.post("/tokens/<action>")
@bp.post("/api/tokens/<action>")
def tokens(action: str):
    """expire, revoke or age (hours=) the tokens matching value= / subject= / kind= (all when none given)."""
    args, sandbox = _args(), state()
    if action == "expire":
        return _done({"expired": sandbox.expire_tokens(**_match(args))})
    if action == "revoke":
        return _done({"revoked": sandbox.revoke_tokens(**_match(args))})
    if action == "age":
        return _done({"aged": sandbox.age_tokens(float(args.get("hours", 25)), **_match(args))})
    if action == "issue":
        # Mint a token directly, e.g. an Instagram Login token for the refresh job's tests.
        lifetime = float(args["lifetime"]) if "lifetime" in args else 60 * 86400
        token = sandbox.issue_token(args["kind"], args["subject"], args.get("scopes", "").split(","),
                                    lifetime=lifetime)
        return _done({"access_token": token.value, "expires_in": int(lifetime)})
    return _done({"error": f"unknown action {action}"}, 404)


@bp.post("/faults")
@bp.post("/api/faults")
def add_fault():
    """Answer the next `times` calls (api=meta|instagram|tiktok, path_contains=) with Meta error `code`."""
    args = _args()
    times = args.get("times", 1)
    fault = state().add_fault(int(args["code"]), subcode=int(args["subcode"]) if "subcode" in args else None,
                              times=None if times in ("always", None) else int(times),
                              path_contains=args.get("path_contains"), api=args.get("api"))
    return _done({"fault": vars(fault)})


@bp.post("/faults/clear")
@bp.post("/api/faults/clear")
def clear_faults():
    state().clear_faults()
    return _done({"cleared": True})


@bp.post("/usage")
@bp.post("/api/usage")
def usage():
    """The percentage reported in X-App-Usage / X-Business-Use-Case-Usage from now on."""
    state().set_usage(float(_args().get("percent", 0)))
    return _done({"usage_percent": state().usage_percent})


@bp.post("/api/call-limit")
def call_limit():
    """Allow `calls` per `window_seconds` (usage headers climb towards 100%, code 4 beyond); none: no limit."""
    args = _args()
    state().set_call_limit(int(args.get("calls", 0)) or None, float(args.get("window_seconds", 60)))
    return _done(state().counters())


@bp.get("/api/counters")
def counters():
    return jsonify(state().counters())


@bp.post("/latency")
@bp.post("/api/latency")
def latency():
    state().set_latency(int(float(_args().get("ms", 0))))
    return _done({"latency_ms": state().latency_ms})


@bp.post("/webhooks")
@bp.post("/api/webhooks")
def webhooks():
    """Send one signed sample delivery (kind=) to the app's webhook URL (or url=)."""
    args = _args()
    try:
        result = samples.send(state(), args.get("kind", ""), url=args.get("url"), object_id=args.get("object_id"),
                              text=args.get("text"), media_base=request.host_url)
    except ValueError as exc:
        return _done({"error": str(exc)}, 400)
    return _done(result)


@bp.post("/seed")
@bp.post("/api/seed")
def seed():
    """Add `templates` templates to a WhatsApp account (waba_id= or the first) and/or `pages` Pages."""
    args, sandbox = _args(), state()
    result = {}
    if "templates" in args:
        waba_id = args.get("waba_id") or next(iter(sandbox.wabas))
        result["templates"] = len(sandbox.seed_templates(waba_id, int(args["templates"]),
                                                         status=args.get("status", "APPROVED")))
    if "pages" in args:
        user_id = args.get("user_id") or sandbox.default_meta_user().id
        result["pages"] = len(sandbox.seed_pages(user_id, int(args["pages"])))
    return _done(result)
