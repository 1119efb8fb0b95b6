"""The sandbox's own controls under /_sandbox/: a page of buttons and the JSON API behind them.

Every action accepts JSON (tests, scripts) or a form post from the page (which then returns to it):
expire / revoke / age tokens, inject Meta errors, report high usage, set a call limit, add latency,
send signed sample webhooks (one, or a burst of N of chosen kinds), make the next N webhooks fail,
complete Meta's verification handshake with the app, seed more Pages, templates or Page-less Instagram
accounts, remove webhook subscriptions (the silence alarm's cause), run a timed job now, and reset
(which says what the app must reconnect).
"""
from __future__ import annotations

import os
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests
from flask import Blueprint, current_app, jsonify, redirect, render_template_string, request

from webhook_app.config import PROJECT_ROOT
from webhook_app.sandbox import samples
from webhook_app.sandbox.common import state
from webhook_app.timed_jobs.catalog import timed_jobs

bp = Blueprint("sandbox_controls", __name__, url_prefix="/_sandbox")
BURST_MAX = 10_000

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Sandbox controls</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5rem;max-width:980px}
fieldset{margin:0 0 1rem;border:1px solid #ccd;border-radius:6px}
button{margin:.15rem}code{background:#f3f3f6;padding:0 .2rem}td,th{padding:.15rem .5rem;text-align:left}</style>
</head><body>
<h1>Meta &amp; TikTok sandbox</h1>
<p>Imitates the Graph API, Facebook Login, graph.instagram.com and TikTok Login Kit v2.
Webhooks go to <code>{{ s.webhook_url or "(unknown)" }}</code>, signed with the app secret.</p>
{% if notice %}<p role="status" id="notice"><strong>{{ notice }}</strong></p>{% endif %}
<fieldset><legend>Send a signed sample webhook</legend>
<form method="post" action="webhooks">{% for k in kinds %}
<button name="kind" value="{{ k }}">{{ k.replace('_', ' ') }}</button>{% endfor %}</form>
<form method="post" action="burst"><label>A burst of <input name="count" value="100" size="5"> webhooks</label>
of {% for k in kinds %}<label><input type="checkbox" name="kinds" value="{{ k }}"{% if loop.first %} checked{% endif %}>
{{ k.replace('_', ' ') }}</label> {% endfor %}<button>Send the burst</button></form>
<form method="post" action="failing"><label>Make the next <input name="count" value="3" size="3"> webhooks fail
processing</label> <button>Fail them</button></form>
<form method="post" action="failing"><input type="hidden" name="count" value="0">
<button>Recover (send good ones again)</button></form>
<p>Next webhooks that will fail: {{ failing }}</p></fieldset>
<fieldset><legend>Meta's verification handshake</legend>
<form method="post" action="verify"><button>Verify the app's webhook URLs</button></form>
<p>Sends <code>GET …?hub.mode=subscribe&amp;hub.challenge=…&amp;hub.verify_token=…</code> to the app's
<code>/webhook</code> and <code>/webhooks/whatsapp</code>, as Meta does when you save the callback URL.</p></fieldset>
<fieldset><legend>Tokens</legend>
<form method="post" action="tokens/expire"><button>Expire every token</button></form>
<form method="post" action="tokens/revoke"><button>Revoke every token (app removed)</button></form>
<table><tr><th>token</th><th>kind</th><th>subject</th><th>state</th><th></th></tr>
{% for t in s.tokens %}<tr><td><code>{{ t.prefix }}</code></td><td>{{ t.kind }}</td>
<td>{{ names.get(t.subject, "") }} {{ t.subject }}</td><td>{{ t.problem or "valid" }}</td>
<td><form method="post" action="tokens/expire"><input type="hidden" name="subject" value="{{ t.subject }}">
<input type="hidden" name="kind" value="{{ t.kind }}"><button>Expire</button></form>
<form method="post" action="tokens/revoke"><input type="hidden" name="subject" value="{{ t.subject }}">
<input type="hidden" name="kind" value="{{ t.kind }}"><button>Revoke</button></form></td></tr>{% endfor %}
</table></fieldset>
<fieldset><legend>Run a timed job now</legend>
<p>The jobs of <code>deployment/systemd</code>; <code>make run</code> also runs them on their timers.</p>
{% for j in jobs %}<form method="post" action="jobs/{{ j.name }}/run"><button>{{ j.name }}</button>
{{ j.description }} ({{ j.schedule }}){% if runs.get(j.name) %} · last: {{ runs[j.name] }}{% endif %}</form>
{% endfor %}</fieldset>
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
<fieldset><legend>Replies (send APIs)</legend>
<p>Send calls {{ m.sends }} · accepted {{ m.accepted }} · refused {{ m.refused or "none" }} · held now {{ m.holding }}
· status webhooks sent {{ m.webhooks_sent }} (failed {{ m.webhooks_failed }}, queued {{ m.webhooks_queued }})
· pending send faults {{ m.faults|length }}</p>
<form method="post" action="messaging/faults"><label>The next <input name="times" value="1" size="3"> sends answer
<select name="code">{% for code, title in send_errors %}<option value="{{ code }}">{{ code }} {{ title }}</option>{% endfor %}
</select></label> <label><input type="checkbox" name="stage" value="status"> accepted, then a failed status
webhook</label> <button>Set</button></form>
<form method="post" action="messaging/faults/clear"><button>Clear send faults</button></form>
<form method="post" action="messaging/hold"><button>Hold send calls open</button></form>
<form method="post" action="messaging/release"><button>Release held send calls</button></form>
<form method="post" action="messaging/pace"><label>WhatsApp messages a second per phone number
<input name="per_second" value="{{ m.per_second.default }}" size="5"></label> <button>Set</button></form>
<form method="post" action="messaging/statuses"><label><input type="checkbox" name="enabled" value="1"
{% if m.statuses.enabled %} checked{% endif %}><input type="hidden" name="enabled" value="0"> status webhooks</label>
<label>every <input name="delay_ms" value="{{ m.statuses.delay_ms }}" size="5"> ms</label>
<label><input type="checkbox" name="before_answer" value="1"{% if m.statuses.before_answer %} checked{% endif %}>
<input type="hidden" name="before_answer" value="0"> sent before the send call answers</label>
<button>Set</button></form></fieldset>
<fieldset><legend>World</legend>
<table><tr><th>Page</th><th>id</th><th>Instagram</th><th>subscribed fields</th></tr>
{% for p in s.pages %}<tr><td>{{ p.name }}</td><td>{{ p.id }}</td><td>{{ p.instagram_business_account or "" }}</td>
<td>{{ (p.subscribed_fields or [])|join(", ") }}</td></tr>{% endfor %}</table>
<p>WhatsApp: {% for w in s.wabas %}{{ w.name }} ({{ w.id }}, {{ w.templates }} templates,
{{ "subscribed" if w.subscribed else "not subscribed" }}) {% endfor %}</p>
<form method="post" action="seed"><input type="hidden" name="templates" value="250">
<button>Add 250 templates</button></form>
<form method="post" action="seed"><input type="hidden" name="instagram" value="sandbox.studio">
<button>Add an Instagram account without a Page (for Instagram Login)</button></form>
<form method="post" action="subscriptions/remove"><button>Remove every webhook subscription (as Meta can:
the app then hears nothing)</button></form>
<form method="post" action="reset"><button>Reset the sandbox (a new world)</button></form></fieldset>
<fieldset><legend>Last webhooks sent</legend><ul>
{% for w in s.sent_webhooks|reverse %}<li>{{ w.kind }} → {{ w.status }} {{ w.answer }}</li>{% endfor %}
</ul></fieldset></body></html>"""


def _args() -> dict:
    raw = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    return {k: v for k, v in (raw or {}).items() if v not in ("", None)}


def _done(result: dict, status: int = 200, notice: str | None = None):
    if request.is_json:
        return jsonify(result), status
    return redirect("/_sandbox/" + (f"?{urlencode({'notice': notice})}" if notice else ""), code=303)


def _match(args: dict) -> dict:
    return {k: args[k] for k in ("value", "subject", "kind") if k in args}


def _names() -> dict[str, str]:
    """Display names by id, for the token table and the reset message."""
    sandbox = state()
    with sandbox.lock:
        names = {u.id: u.name for u in sandbox.users.values()}
        names.update({p.id: p.name for p in sandbox.pages.values()})
        names.update({i.id: f"@{i.username}" for i in sandbox.instagram.values()})
        names.update({t.open_id: t.display_name for t in sandbox.tiktok_users.values()})
    return names


def _job_runs() -> dict[str, str]:
    return current_app.extensions.setdefault("sandbox_job_runs", {})


@bp.get("/")
def page():
    from webhook_app.sandbox import messaging

    runs = {name: _describe_run(entry) for name, entry in _job_runs().items()}
    return render_template_string(PAGE, s=state().summary(), kinds=samples.KINDS, notice=request.args.get("notice"),
                                  failing=getattr(state(), "failing_webhooks", 0), names=_names(),
                                  jobs=list(timed_jobs().values()), runs=runs,
                                  m=messaging.messaging_world().summary(),
                                  send_errors=[(c, e[1]) for c, e in sorted(messaging.WHATSAPP_ERRORS.items())])


@bp.get("/api/state")
def summary():
    return jsonify(state().summary())


@bp.post("/reset")
@bp.post("/api/reset")
def reset():
    """A new world; the answer names the accounts the app connected in the old one (they must be connected again)."""
    sandbox, names = state(), _names()
    with sandbox.lock:
        connected = sorted({names[t.subject] for t in sandbox.tokens.values() if t.subject in names})
    sandbox.reset()
    if connected:
        message = ("The sandbox has a new world. In the app, disconnect and connect again: "
                   + ", ".join(connected) + ".")
    else:
        message = "The sandbox has a new world; the app had connected nothing from the old one."
    return _done({"reset": True, "reconnect": connected, "message": message}, notice=message)


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
    if "instagram" in args:
        result["instagram"] = sandbox.add_instagram_account(args["instagram"]).id
    return _done(result)


@bp.post("/failing")
@bp.post("/api/failing")
def failing():
    """The next `count` sample webhooks go out signed but broken, so their events fail; 0 recovers."""
    count = max(0, int(float(_args().get("count", 0))))
    sandbox = state()
    with sandbox.lock:
        sandbox.failing_webhooks = count
    notice = f"The next {count} webhooks will fail processing." if count else "Webhooks are sent intact again."
    return _done({"failing_webhooks": count}, notice=notice)


@bp.post("/burst")
@bp.post("/api/burst")
def burst():
    """Send `count` signed sample webhooks, cycling through `kinds` (a list or comma-separated), 8 at a time."""
    args = _args()
    kinds = (args.get("kinds") if request.is_json else request.form.getlist("kinds")) or [samples.KINDS[0]]
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in samples.KINDS]
    try:
        count = int(args.get("count", 10))
    except (TypeError, ValueError):
        count = -1
    if unknown or not 1 <= count <= BURST_MAX:
        return _done({"error": f"count must be 1..{BURST_MAX} and kinds among {', '.join(samples.KINDS)}"}, 400,
                     notice="Nothing sent: choose 1 to 10,000 webhooks of known kinds.")
    sandbox = state()
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: samples.send(sandbox, kinds[i % len(kinds)]), range(count)))
    seconds = time.monotonic() - started
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    with sandbox.lock:
        del sandbox.sent_webhooks[:-20]   # keep the page's list (and the saved world) short
    answered = ", ".join(f"{n} × {code}" for code, n in sorted(statuses.items()))
    return _done({"sent": count, "kinds": kinds, "statuses": statuses, "seconds": round(seconds, 3)},
                 notice=f"Sent {count} webhooks in {seconds:.1f}s: {answered}.")


@bp.post("/verify")
@bp.post("/api/verify")
def verify():
    """Meta's subscription handshake against the app's webhook URLs: GET with hub.mode, hub.challenge, hub.verify_token."""
    sandbox = state()
    settings = current_app.config["SANDBOX_SETTINGS"]
    base = sandbox.webhook_url.rsplit("/webhook", 1)[0]
    results = []
    for path in ("/webhook", "/webhooks/whatsapp"):
        challenge = str(secrets.randbelow(10 ** 9))
        query = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": settings.meta_verify_token}
        try:
            answer = requests.get(f"{base}{path}", params=query, timeout=10)
            ok = answer.status_code == 200 and answer.text == challenge
            results.append({"url": base + path, "status": answer.status_code, "verified": ok})
        except requests.RequestException as exc:
            results.append({"url": base + path, "status": None, "verified": False, "error": exc.__class__.__name__})
    verified = all(r["verified"] for r in results)
    notice = ("Verified: the app echoed the challenge on " + " and ".join(r["url"] for r in results) + "."
              if verified else "Not verified: " + "; ".join(f"{r['url']} answered {r['status']}" for r in results))
    return _done({"verified": verified, "results": results}, 200 if verified else 502, notice=notice)


def _describe_run(entry: dict) -> str:
    code = entry["proc"].poll()
    when = time.strftime("%H:%M:%S", time.localtime(entry["started"]))
    return f"started {when}, " + ("running" if code is None else f"exit {code}")


@bp.post("/jobs/<name>/run")
@bp.post("/api/jobs/<name>/run")
def run_job(name: str):
    """Start a timed job of deployment/systemd now, with this process's environment (make run's)."""
    job = timed_jobs().get(name)
    if job is None:
        return _done({"error": f"no timed job named {name!r}"}, 404, notice=f"No timed job named {name}.")
    runs = _job_runs()
    previous = runs.get(name)
    if previous is not None and previous["proc"].poll() is None:
        return _done({"name": name, "started": False, "pid": previous["proc"].pid}, 409,
                     notice=f"{name} is still running.")
    proc = subprocess.Popen(list(job.argv), cwd=PROJECT_ROOT, env=dict(os.environ), start_new_session=True)
    runs[name] = {"proc": proc, "started": time.time()}
    return _done({"name": name, "started": True, "pid": proc.pid}, 202,
                 notice=f"{name} started (pid {proc.pid}); its output is in make run's terminal.")


@bp.get("/api/jobs")
def jobs():
    """The timed jobs and how their last run from here went."""
    runs = _job_runs()
    return jsonify(jobs=[{"name": j.name, "description": j.description, "schedule": j.schedule,
                          "last_run": _describe_run(runs[j.name]) if j.name in runs else None,
                          "exit_code": runs[j.name]["proc"].poll() if j.name in runs else None}
                         for j in timed_jobs().values()])
@bp.post("/subscriptions/remove")
@bp.post("/api/subscriptions/remove")
def remove_subscriptions():
    """Unsubscribe our app from one object (object_id=) or from all, as removing it at Meta would."""
    return _done({"removed": state().remove_subscriptions(_args().get("object_id"))})
