"""`GET /api/stream` over real HTTP: Server-Sent Events from LISTEN/NOTIFY, per user, with Last-Event-ID."""
from __future__ import annotations

import queue
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.support.live import AuthActions, Browser
from tests.support.rows import insert_event, user_id
from tests.support.webhooks import deliver, ig_messages
from webhook_app.webhooks.processor import Processor


class Stream:
    """An open event stream over a plain socket, read by a thread: frames as dicts {"event", "id", "data"}."""

    def __init__(self, browser: Browser, headers: dict | None = None):
        url = urlsplit(browser.base_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=30)
        cookies = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookies}\r\n"
                          f"Accept: text/event-stream\r\n{extra}\r\n".encode())
        self.reader = self.sock.makefile("r", encoding="utf-8", newline="\n")
        self.status = self.reader.readline().strip()
        self.headers = {}
        for line in iter(self.reader.readline, "\r\n"):
            key, _, value = line.strip().partition(": ")
            self.headers[key.lower()] = value
        self.frames: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        frame = {}
        try:
            for line in self.reader:
                line = line.rstrip("\r\n")
                if line == "":
                    if frame:
                        self.frames.put(frame)
                    frame = {}
                elif line.startswith(":"):
                    self.frames.put({"comment": line})
                elif ": " in line:  # chunk-size lines of the chunked encoding have no ": "
                    key, _, value = line.partition(": ")
                    frame[key] = value
        except (OSError, ValueError):  # closed by the test
            pass

    def next(self, event: str, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event!r} frame within {timeout}s")
            try:
                frame = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if frame.get("event") == event or (event == "comment" and "comment" in frame):
                return frame

    def nothing(self, event: str, within: float) -> bool:
        try:
            self.next(event, within)
        except AssertionError:
            return True
        return False

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def owner(auth, browser, sql):
    auth.register("owner@example.com")
    auth.login("owner@example.com")
    owner = user_id(sql, "owner@example.com")
    sql("INSERT INTO account_routes (external_id, user_id, kind) VALUES ('ig-owned', %s, 'instagram')", (owner,))
    return owner


def test_a_delivery_reaches_its_owners_stream_and_no_one_elses(server, browser, owner, sql):
    other = Browser(server.url)
    AuthActions(other).register("other@example.com")
    mine, theirs = Stream(browser), Stream(other)
    try:
        assert mine.status.endswith("200 OK") and mine.headers["content-type"].startswith("text/event-stream")
        hello = mine.next("hello")
        theirs.next("hello")
        started = time.monotonic()
        assert deliver(server.url, ig_messages("ig-owned", ["mid-live-1"])).status_code == 200
        frame = mine.next("events")
        assert time.monotonic() - started < 1.0
        assert '"new":1' in frame["data"] and int(frame["id"]) > int(hello["id"])
        assert theirs.nothing("events", 0.5)  # another user's delivery is not theirs to hear of
    finally:
        mine.close()
        theirs.close()


def test_the_processors_outcome_is_announced(server, browser, owner, settings, sql):
    assert deliver(server.url, ig_messages("ig-owned", ["mid-live-2"])).status_code == 200
    stream = Stream(browser)
    try:
        stream.next("hello")
        processor = Processor(settings, workers=1)
        try:
            processor.run_once()
        finally:
            processor.close()
        stream.next("events")
        assert sql("SELECT status FROM webhook_events")[0][0] == "processed"
    finally:
        stream.close()


def test_reconnecting_with_last_event_id_hears_of_what_it_missed(server, browser, owner, sql):
    stream = Stream(browser)
    seen = stream.next("hello")["id"]
    stream.close()
    insert_event(sql, owner)  # while no stream was open
    again = Stream(browser, headers={"Last-Event-ID": seen})
    try:
        again.next("hello")
        assert '"missed"' in again.next("events")["data"]
    finally:
        again.close()
    # Nothing new since the id it was handed: no catch-up message.
    quiet = Stream(browser, headers={"Last-Event-ID": str(2**40)})
    try:
        quiet.next("hello")
        assert quiet.nothing("events", 0.5)
    finally:
        quiet.close()


def test_heartbeats_keep_an_idle_stream_alive(app, server, browser, owner):
    app.config["LIVE_HEARTBEAT_SECONDS"] = 0.2
    stream = Stream(browser)
    try:
        stream.next("hello")
        stream.next("comment", 2)
    finally:
        stream.close()


def test_the_stream_needs_a_login(server):
    answer = Browser(server.url).api("GET", "/api/stream")
    assert answer.status_code == 401 and answer.json() == {"error": "Log in first."}
