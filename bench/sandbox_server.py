"""The sandbox as the token refresh benchmark serves it: gunicorn, one gthread worker, keep-alive, seeded at boot.

    IC_BENCH_SEED_URL=postgresql://... IC_BENCH_ACCOUNTS=10000 \
        gunicorn -k gthread -w 1 --threads 64 --keep-alive 30 bench.sandbox_server:app

One worker because the sandbox's world lives in its process's memory (webhook_app/sandbox/state.py);
its threads serve the job's concurrent calls, and keep-alive spares a TCP connection per call, as
Meta's and TikTok's servers do (werkzeug's development server closes every connection). At boot the
worker seeds the world and writes the matching connected accounts into the database (bench.refresh_tokens.seed).
"""
from __future__ import annotations

import os

from bench.refresh_tokens import SECRET, seed
from webhook_app.config import Settings
from webhook_app.sandbox import create_sandbox_app

app = create_sandbox_app(Settings(meta_app_secret=SECRET))
seed(app.extensions["sandbox"], os.environ["IC_BENCH_SEED_URL"], int(os.environ["IC_BENCH_ACCOUNTS"]))
