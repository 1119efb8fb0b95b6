"""More than one host (SPEC 18), run for real on one machine: PgBouncer in transaction mode in front of
one PostgreSQL, three web instances under gunicorn behind nginx, two processors, each its own process.
Signed deliveries arrive under load while one web instance and one processor are SIGKILLed and started
again: every delivery answered 200 is stored, every event is processed and lands in the inbox exactly
once, and nothing is left pending or held."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.live import app_env
from tests.support.scale import Nginx, PgBouncer, Processor, Web
from tests.support.webhooks import add_owner, deliver, ig_messages, wait_until

pytestmark = pytest.mark.slow  # PgBouncer, nginx, three gunicorns and two processors

ACCOUNT = "ig-scale"
DELIVERIES = 600
CLIENTS = 12


@pytest.fixture
def bouncer(database_url):
    bouncer = PgBouncer(database_url)
    yield bouncer
    bouncer.stop()


def _send_until_accepted(url: str, payload: dict, session: requests.Session, answers: list) -> None:
    """As Meta does: the same bytes again after any answer but 200 (a 502 from nginx, a 503, a reset)."""
    for _ in range(200):
        try:
            status = deliver(url, payload, session=session).status_code
        except requests.RequestException:
            status = None
        answers.append(status)
        if status == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"delivery never accepted: {payload['entry'][0]['messaging'][0]['message']['mid']}")


def test_three_webs_two_processors_through_pgbouncer_survive_a_sigkill_each(
        bouncer, database_url, settings, sql, tmp_path):
    owner = add_owner(sql, "scale@example.com", ACCOUNT)
    env = app_env(settings, DATABASE_URL=bouncer.url, DATABASE_LISTEN_URL=database_url, WEBHOOK_LEASE_SECONDS="3",
                  LOG_LEVEL="WARNING")
    webs = [Web(env, tmp_path / f"web-{n}.log").start() for n in range(3)]
    processors = [Processor(env, tmp_path / f"processor-{n}.log", "--workers", "2", "--batch-size", "20",
                            "--poll-interval", "0.5").start() for n in range(2)]
    nginx = Nginx(tmp_path / "nginx", [web.port for web in webs])
    mids = [f"mid.scale.{n}" for n in range(DELIVERIES)]
    answers: list = []
    sessions = threading.local()

    def send(mid: str) -> None:
        if not hasattr(sessions, "http"):
            sessions.http = requests.Session()
        _send_until_accepted(nginx.url, ig_messages(ACCOUNT, [mid], text=f"scale {mid}"), sessions.http, answers)

    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            sent = [pool.submit(send, mid) for mid in mids]
            # Mid-run: a third of the deliveries in, and the first processor holding events.
            wait_until(lambda: answers.count(200) >= DELIVERIES // 3, timeout=120, interval=0.01)
            victim = processors[0]
            holding = f"%:{victim.proc.pid}:%"
            seen = []

            def holding_or_late() -> bool:
                if sql("SELECT count(*) FROM webhook_events WHERE status = 'processing' "
                       "AND locked_by LIKE %s", (holding,))[0][0] > 0:
                    seen.append(True)
                    return True
                # Not caught holding by two thirds of the load: kill it anyway, while deliveries still arrive.
                return answers.count(200) >= 2 * DELIVERIES // 3

            _wait_for(holding_or_late, seconds=10)
            caught = bool(seen)
            victim.kill()
            # What it held when it died stays held until its lease runs out (nobody else may touch it).
            held = [row[0] for row in sql("SELECT id FROM webhook_events WHERE status = 'processing' "
                                          "AND locked_by LIKE %s", (holding,))]
            webs[0].kill()
            killed_at = answers.count(200)
            time.sleep(0.5)  # the rest of the load meets one web instance and one processor fewer
            webs[0].start()
            victim.start()
            for future in sent:
                future.result()
        assert killed_at < DELIVERIES, "the instances were killed after the load was over"

        # Every 200 is stored: one delivery and one event per message, each message once.
        assert answers.count(200) == DELIVERIES
        stored = sql("SELECT e.payload -> 'messaging' -> 0 -> 'message' ->> 'mid' FROM webhook_events e")
        assert sorted(row[0] for row in stored) == sorted(mids)
        assert sql("SELECT count(*) FROM webhook_deliveries") == [(DELIVERIES,)]

        # Nothing stuck: the killed processor's events came back by lease and were finished.
        wait_until(lambda: sql("SELECT count(*) FROM webhook_events WHERE status <> 'processed'") == [(0,)],
                   timeout=120, interval=0.1)
        assert sql("SELECT count(*) FROM webhook_events WHERE locked_by IS NOT NULL OR lease_expires_at IS NOT NULL"
                   ) == [(0,)]
        assert caught or not held
        if held:  # taken back from the dead processor when its lease ran out, then finished by another
            assert sql("SELECT count(*) FROM webhook_events WHERE id = ANY(%s) AND status = 'processed' "
                       "AND errors::text LIKE '%%lease expired%%'", (held,)) == [(len(held),)]

        # Processed exactly once: one inbox row per message, for its owner, with its text.
        inbox = sql("SELECT external_id, user_id, text FROM messages WHERE direction = 'inbound'")
        assert sorted(inbox) == sorted((mid, owner, f"scale {mid}") for mid in mids)

        # It all went through PgBouncer, and the dashboard's figures agree with what was stored.
        assert bouncer.stats()["total_xact_count"] > DELIVERIES // 10
        counts = dict(sql("SELECT status, sum(n) FROM webhook_status_counts WHERE user_id = %s GROUP BY status",
                          (owner,)))
        assert {k: v for k, v in counts.items() if v} == {"processed": DELIVERIES}
    finally:
        nginx.stop()
        for part in (*webs, *processors):
            part.stop()
    for web in webs:
        assert "Traceback" not in web.log_path.read_text(errors="replace"), web.log_path.read_text()[-3000:]


def _wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return False


def test_a_napping_processor_behind_pgbouncer_is_woken_through_its_direct_listen_url(
        bouncer, database_url, settings, server, sql, tmp_path):
    """Queries through PgBouncer, LISTEN on DATABASE_LISTEN_URL: a delivery wakes the idle processor at once,
    long before its next poll (30 s here)."""
    owner = add_owner(sql, "nap@example.com", ACCOUNT)
    env = app_env(settings, DATABASE_URL=bouncer.url, DATABASE_LISTEN_URL=database_url)
    processor = Processor(env, tmp_path / "processor.log", "--workers", "1", "--poll-interval", "30").start()
    try:
        # Listening directly (the one connection that is not PgBouncer's), and napping.
        wait_until(lambda: sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                               "'process-webhooks-listen' AND datname = current_database()")[0][0] == 1
                   and sql("SELECT count(*) FROM webhook_processor_naps WHERE until > now()")[0][0] == 1, timeout=30)
        assert deliver(server.url, ig_messages(ACCOUNT, ["mid.nap"])).status_code == 200
        wait_until(lambda: sql("SELECT count(*) FROM messages WHERE external_id = 'mid.nap' AND user_id = %s",
                               (owner,)) == [(1,)], timeout=15)
    finally:
        processor.stop()
    assert bouncer.stats()["total_xact_count"] > 0
