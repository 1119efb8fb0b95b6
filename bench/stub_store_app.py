"""The real app for bench.intake_ceiling, with the intake's database write replaced by a fixed wait.

STUB_FLUSH_SECONDS (default 0.001) is how long each group-commit flush takes, holding no CPU and no
GIL, as a commit that cost PostgreSQL nothing would. Benchmark use only: nothing is stored.
"""
import os
import time

from app import app
from webhook_app.webhooks.intake import Stored

_WAIT = float(os.environ.get("STUB_FLUSH_SECONDS", "0.001"))


def _flush(batch):
    time.sleep(_WAIT)
    return [Stored(duplicate=False, events=1) for _ in batch]


app.wsgi_app.receiver.intake._batches._flush = _flush
