"""`/api/timed-jobs`: the timers' jobs with their calendars and next runs, and "run now"."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify
from flask_login import login_required

from webhook_app.db import get_db
from webhook_app.timed_jobs import runs
from webhook_app.timed_jobs.catalog import timed_jobs
from webhook_app.web.extensions import limiter, user_or_ip
from webhook_app.web.serialize import iso

bp = Blueprint("timed_jobs", __name__, url_prefix="/timed-jobs")
# The same per-user budget as the other sync endpoints (scope "sync", SPEC 12).
sync_limit = limiter.shared_limit(lambda: current_app.config["RATELIMITS"]["RATELIMIT_SYNC"],
                                  scope="sync", key_func=user_or_ip)


@bp.get("")
@login_required
def list_jobs():
    """Every timed job of deployment/systemd: name, what it does, its calendar, its next run (UTC)."""
    now = datetime.now(timezone.utc)
    return jsonify(jobs=[{"name": job.name, "description": job.description, "schedule": job.schedule,
                          "next_run": iso(job.next_after(now))} for job in timed_jobs().values()])


@bp.post("/<name>/run")
@login_required
@sync_limit
def run_now(name: str):
    """Queue a run of one job for the background-jobs worker: 202, or 200 when one is already waiting."""
    try:
        job_id = runs.request_run(get_db(), name)
    except runs.UnknownJob:
        return jsonify(error=f"no timed job named {name!r}"), 404
    if job_id is None:
        return jsonify(name=name, queued=False, message=f"a run of {name} is already waiting"), 200
    return jsonify(name=name, queued=True, job_id=job_id), 202
