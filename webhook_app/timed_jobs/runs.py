"""Running a timed job now: queued as a background job, run by the jobs worker with the timer's own command."""
from __future__ import annotations

import logging
import os
import subprocess
import time

from webhook_app.background_jobs import store
from webhook_app.config import PROJECT_ROOT
from webhook_app.db import Database
from webhook_app.timed_jobs.catalog import timed_jobs

log = logging.getLogger(__name__)

JOB_KIND = "timed_job"
RUN_TIMEOUT = 30 * 60   # the services' TimeoutStartSec


class UnknownJob(LookupError):
    pass


def request_run(db: Database, name: str) -> int | None:
    """Queue one run of the timed job `name`; None when a run of it is already waiting."""
    if name not in timed_jobs():
        raise UnknownJob(name)
    return store.enqueue(db, JOB_KIND, {"name": name, "requested_at": time.time()}, dedupe_key=f"{JOB_KIND}:{name}")


def run_job(payload: dict) -> None:
    """The background job: run the timer's command as its service would; a non-zero exit fails the job."""
    job = timed_jobs().get(payload.get("name", ""))
    if job is None:
        raise UnknownJob(payload.get("name"))
    log.info("running %s now (asked for from the dashboard or the sandbox): %s", job.name, " ".join(job.argv))
    result = subprocess.run(list(job.argv), cwd=PROJECT_ROOT, env=dict(os.environ), timeout=RUN_TIMEOUT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = result.stdout.strip().splitlines()[-5:]
    for line in tail:
        log.info("%s: %s", job.name, line)
    if result.returncode != 0:
        raise RuntimeError(f"{job.name} exited with code {result.returncode}: {' | '.join(tail)[-500:]}")
