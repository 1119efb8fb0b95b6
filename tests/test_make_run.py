"""`make run` over real processes: one instance, children kept alive, a sandbox that remembers, the timers."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import AuthActions
from tests.support.live import ROOT, Browser, app_env, consent
from tests.support.make_run import MakeRun, run_local_env
from tests.support.webhooks import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def make_run(settings, tmp_path):
    """Start `make run`s on the test database, each on its own ports; all stopped (Ctrl-C) at the end."""
    started: list[MakeRun] = []

    def start(var_dir=None, **extra: str) -> MakeRun:
        env = run_local_env(app_env(settings), var_dir or tmp_path / "var", **extra)
        run = MakeRun(env)
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop()


def _owner(run: MakeRun) -> tuple[Browser, AuthActions]:
    browser = Browser(run.url)
    auth = AuthActions(browser)
    assert auth.register().status_code == 302
    return browser, auth


def test_the_url_is_printed_once_the_app_answers_and_ctrl_c_stops_everything(make_run):
    run = make_run()
    run.wait_ready()
    # The moment the line appears, a user's first click works.
    assert requests.get(run.url + "/auth/register", timeout=5).status_code == 200
    assert requests.get(run.sandbox_url + "/_sandbox/", timeout=5).status_code == 200
    assert "WARNING: This is a development server" not in run.output()
    assert "XDG_RUNTIME_DIR" not in run.output()
    children = {name: run.child_pids(name) for name in ("gunicorn", "jobs.process_webhooks", "webhook_app.sandbox",
                                                        "jobs.send_messages")}
    assert all(children.values()), children
    assert run.stop() == 0
    assert run.lines[-1] == "Stopped."
    with pytest.raises(requests.ConnectionError):
        requests.get(run.url + "/healthz", timeout=2)
    for pids in children.values():
        assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_second_make_run_exits_1_naming_the_first_and_leaves_it_healthy(settings):
    # The embedded PostgreSQL here (no DATABASE_URL), as a new user has it: the second run must not stop it.
    # Under /tmp itself: the server runs as its own system user, who cannot enter pytest's private tmp_path.
    tmp_path = Path(tempfile.mkdtemp(prefix="ic-make-run-"))
    env = run_local_env({k: v for k, v in app_env(settings).items() if k != "DATABASE_URL"}, tmp_path / "var")
    first = MakeRun(env)
    try:
        first.wait_ready(180)
        browser, auth = _owner(first)
        lock_before = (tmp_path / "var" / "make-run.lock").read_bytes()

        second = subprocess.run([sys.executable, "-m", "webhook_app.run_local"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        lines = (second.stdout + second.stderr).strip().splitlines()
        assert len(lines) == 1 and "already running" in lines[0] and first.url in lines[0], lines
        assert str(first.proc.pid) in lines[0]

        # The same ports from another directory: refused too, in one line.
        elsewhere = subprocess.run([sys.executable, "-m", "webhook_app.run_local"], cwd=ROOT,
                                   env={**env, "VAR_DIR": str(tmp_path / "other")},
                                   capture_output=True, text=True, timeout=60)
        assert elsewhere.returncode == 1
        lines = (elsewhere.stdout + elsewhere.stderr).strip().splitlines()
        assert len(lines) == 1 and "already in use" in lines[0], lines

        # The first one is untouched: its database, its sessions and its lock.
        assert requests.get(first.url + "/healthz", timeout=5).json() == {"status": "ok", "database": "ok"}
        assert browser.get("/").status_code == 200
        auth.logout()
        assert auth.login().status_code == 302
        assert (tmp_path / "var" / "make-run.lock").read_bytes() == lock_before
        assert first.proc.poll() is None
        # Starting the embedded server said nothing alarming.
        assert "XDG_RUNTIME_DIR" not in first.output() and "Warning" not in first.output()
    finally:
        assert first.stop() == 0
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_killed_processor_is_restarted_and_the_web_app_never_stops_answering(make_run, sql):
    run = make_run()
    run.wait_ready()
    browser, _ = _owner(run)
    [processor] = run.child_pids("jobs.process_webhooks")

    failures: list[str] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                status = requests.get(run.url + "/healthz", timeout=5).status_code
                if status != 200:
                    failures.append(str(status))
            except requests.RequestException as exc:
                failures.append(repr(exc))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        mark = len(run.lines)
        subprocess.run(["kill", "-9", str(processor)], check=True)
        run.wait_for(r"webhooks exited \(signal SIGKILL\); restarting it in 1s", 30, start=mark)
        restarted = wait_until(lambda: [p for p in run.child_pids("jobs.process_webhooks") if p != processor], 30)
        assert restarted
        # The new processor works: a sample webhook sent now is processed.
        sent = run.sandbox("POST", "webhooks", kind="page_feed", text="after the restart")
        assert sent["status"] == 200, sent
        wait_until(lambda: sql("SELECT status FROM webhook_events") == [("processed",)], 30)
    finally:
        done.set()
        watcher.join()
    assert failures == []
    assert run.proc.poll() is None and browser.get("/").status_code == 200


def test_after_a_restart_the_sandbox_still_knows_the_stored_accounts(make_run, tmp_path):
    run = make_run()
    run.wait_ready()
    browser, auth = _owner(run)
    assert consent(browser, "/connect/meta").status_code == 302
    pages = {p["name"]: p for p in browser.api("GET", "/api/pages").json()["pages"]}
    assert browser.api("POST", f"/api/pages/{pages['Sandbox Coffee House']['id']}/select").status_code == 200
    world = run.sandbox("GET", "state")
    assert run.stop() == 0

    again = make_run(tmp_path / "var", PORT=run.env["PORT"], SANDBOX_PORT=run.env["SANDBOX_PORT"])
    again.wait_ready()
    after = again.sandbox("GET", "state")
    assert [p["id"] for p in after["pages"]] == [p["id"] for p in world["pages"]]
    assert [t["prefix"] for t in after["tokens"]] == [t["prefix"] for t in world["tokens"]]

    browser = Browser(again.url)
    assert AuthActions(browser).login().status_code == 302
    # A sample webhook for the stored Instagram account reaches this user's dashboard ...
    sent = again.sandbox("POST", "webhooks", kind="instagram_message", text="still here after the restart")
    assert sent["status"] == 200, sent
    events = wait_until(lambda: [e for e in browser.api("GET", "/api/webhook-events").json()["events"]
                                 if e["status"] == "processed"], 30)
    assert events[0]["object"] == "instagram"
    inbox = browser.api("GET", "/api/conversations").json()
    assert "still here after the restart" in str(inbox)
    # ... and Select on the other Page still reaches Meta with the stored Page token.
    chosen = browser.api("POST", f"/api/pages/{pages['Sandbox Bakery']['id']}/select")
    assert chosen.status_code == 200, chosen.text
    statuses = {a["name"] if "name" in a else a["id"]: a["status"] for a in browser.api("GET", "/api/accounts").json()["accounts"]}
    assert set(statuses.values()) == {"active"}, statuses


def test_an_expired_sandbox_token_shows_its_banner_within_a_minute_with_nothing_typed(make_run):
    run = make_run()
    run.wait_ready()
    browser, _ = _owner(run)
    assert consent(browser, "/connect/meta").status_code == 302
    assert "data-reauth=" not in browser.get("/").text

    run.sandbox("POST", "tokens/expire")
    expired_at = time.monotonic()
    page = wait_until(lambda: (lambda text: "data-reauth=" in text and text)(browser.get("/").text), 60, interval=1)
    assert time.monotonic() - expired_at < 60
    assert re.search(r'href="/connect/meta" data-reconnect="meta-\d+"', page)


README_COMMAND = re.compile(r"python -m (jobs\.[a-z_]+)((?: --?[a-z][a-z-]*)*)")
LONG_RUNNING = {"--follow", "jobs.run_background_jobs"}


def _readme_commands() -> list[list[str]]:
    found = {(m.group(1), m.group(2).strip()) for m in README_COMMAND.finditer((ROOT / "README.md").read_text())}
    return [[module, *flags.split()] for module, flags in sorted(found)]


def test_every_job_command_in_the_readme_runs_in_development_against_the_sandbox(make_run):
    run = make_run(SANDBOX_TOKEN_MONITOR_SECONDS="3600")   # quiet: only the commands below call the sandbox
    run.wait_ready()
    browser, _ = _owner(run)
    assert consent(browser, "/connect/meta").status_code == 302
    assert consent(browser, "/connect/whatsapp").status_code == 302
    commands = _readme_commands()
    modules = {c[0] for c in commands}
    assert {"jobs.monitor_tokens", "jobs.refresh_tokens", "jobs.sync_templates", "jobs.sync_account_data",
            "jobs.prune", "jobs.process_webhooks", "jobs.run_background_jobs", "jobs.migrate"} <= modules

    # As a user types them: no sandbox URL, not even its port, in the environment.
    env = {k: v for k, v in run.env.items() if k != "SANDBOX_PORT"}
    for command in commands:
        before = run.sandbox("GET", "counters")["calls"]
        if LONG_RUNNING & {command[0], *command[1:]}:
            proc = subprocess.Popen([sys.executable, "-m", *command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            seen = []
            for line in proc.stdout:   # until it says it is at work (its SIGTERM handler is in place by then)
                seen.append(line)
                if re.search(r"following the queue|jobs worker started", line):
                    break
            proc.terminate()
            rest, _ = proc.communicate(timeout=30)
            out, code = "".join(seen) + rest, proc.returncode
        else:
            done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=120)
            out, code = done.stdout + done.stderr, done.returncode
        assert code == 0, (command, out)
        calls = run.sandbox("GET", "counters")["calls"] - before
        if command[0] == "jobs.monitor_tokens":
            assert "unchecked" not in out and re.search(r"^token check done .*: active \d+$", out, re.M), out
            assert calls >= 1
        if command[0] in ("jobs.sync_templates", "jobs.sync_account_data"):
            assert calls >= 1, (command, out)

    # The control page's "run now" starts the same command with make run's environment.
    assert run.sandbox("POST", "jobs/prune/run")["started"] is True
    ran = wait_until(lambda: next(j for j in run.sandbox("GET", "jobs")["jobs"] if j["name"] == "prune")["exit_code"]
                     is not None and run.sandbox("GET", "jobs")["jobs"], 60, interval=0.2)
    assert next(j for j in ran if j["name"] == "prune")["exit_code"] == 0
