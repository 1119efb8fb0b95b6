"""The sandbox as the send benchmark serves it (bench/send.py): gunicorn, one gthread worker, keep-alive.

    IC_BENCH_WEBHOOK_URL=http://127.0.0.1:5000/webhook IC_BENCH_SECRET=... \
        gunicorn -k gthread -w 1 --threads 32 --keep-alive 30 bench.send_sandbox:app

One worker because the sandbox's world (and its send counts) lives in its process's memory; its status
webhooks go to the app at IC_BENCH_WEBHOOK_URL, signed with IC_BENCH_SECRET.
"""
from __future__ import annotations

import os

from webhook_app.config import Settings
from webhook_app.sandbox import create_sandbox_app

app = create_sandbox_app(Settings(meta_app_secret=os.environ["IC_BENCH_SECRET"]),
                         webhook_url=os.environ["IC_BENCH_WEBHOOK_URL"])
