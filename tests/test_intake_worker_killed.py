"""kill -9 of the worker whose group commit is leading (lingering or flushing): no caller hangs, nothing
acknowledged is lost, and the respawned worker takes deliveries at once."""
import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.live import Gunicorn, app_env
from tests.support.webhooks import deliver, ig_messages, wait_until


def _worker_pids(log_path) -> list[int]:
    return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", log_path.read_text())]


@pytest.mark.slow  # a gunicorn process whose worker is killed
def test_killing_the_intake_worker_mid_batch_leaves_no_caller_hanging(settings, sql, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    server = Gunicorn(app_env(settings), workers=1, log_path=log_path)
    answers: dict[str, object] = {}
    stop = threading.Event()
    try:
        [victim] = _worker_pids(log_path)

        def send(i: int) -> None:
            mid = f"m-{i}"
            started = time.monotonic()
            try:
                answers[mid] = deliver(server.url, ig_messages("ig-kill", [mid])).status_code
            except requests.Timeout:
                answers[mid] = f"hung {time.monotonic() - started:.1f}s"
            except requests.RequestException:  # refused, reset, or cut off mid-answer by the kill
                answers[mid] = "connection closed"

        def load() -> None:
            with ThreadPoolExecutor(16) as pool:  # bursts: batches big enough that the next leader lingers
                i = 0
                while not stop.is_set():
                    list(pool.map(send, range(i, i + 32)))
                    i += 32

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        wait_until(lambda: len(answers) >= 100, timeout=90)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(_worker_pids(log_path)) == 2, timeout=30)  # the master boots a new worker
        count = len(answers)
        wait_until(lambda: list(answers.values())[count:].count(200) >= 50, timeout=90)
        stop.set()
        loader.join(30)
        assert deliver(server.url, ig_messages("ig-kill", ["after"])).status_code == 200
    finally:
        stop.set()
        server.stop()
    hung = [a for a in answers.values() if isinstance(a, str) and a.startswith("hung")]
    assert hung == []
    assert set(answers.values()) <= {200, 503, "connection closed"}, set(answers.values())
    acknowledged = {mid for mid, a in answers.items() if a == 200}
    stored = {mid for (mid,) in sql("SELECT payload->'messaging'->0->'message'->>'mid' FROM webhook_events")}
    assert acknowledged <= stored  # nothing answered 200 was lost with the worker
