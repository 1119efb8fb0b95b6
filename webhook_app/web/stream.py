"""`GET /api/stream`: Server-Sent Events for the logged-in user (SPEC 17), fed by LISTEN/NOTIFY.

One `Hub` per process holds the only LISTEN connection and fans each notification out to the
streams open in that process (channels and payloads: webhook_app/webhooks/live.py). A stream's
messages are hints, not data: `event: events` says the user's events changed, and the page asks
the JSON API for what it shows. Each message's `id:` is the newest event id the hub has seen, so a
browser reconnecting with `Last-Event-ID` is told at once when it missed arrivals. A comment line
every `HEARTBEAT_SECONDS` keeps proxies from closing an idle stream and finds closed ones. When the
process is told to stop, `end_all_streams` sends each stream `event: goodbye` (with `retry: 250`) and
ends it, so a restart does not wait for streams that would never finish by themselves.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
import weakref

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_login import current_user, login_required

from webhook_app.db import Database
from webhook_app.db.listen import Listener
from webhook_app.exceptions import DatabaseError
from webhook_app.webhooks import live

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 3000           # how long a browser waits before reconnecting (the `retry:` field)
COALESCE_SECONDS = 0.02   # notifications arriving this close together cost one look at the database
# The intake NOTIFYs only while someone has said it is waiting (webhooks.event_queue.nap): an open
# stream renews that every few seconds, for three times as long.
WATCH_RENEW_SECONDS = 5.0
MAX_QUEUED = 100          # a stream this far behind is told to reload rather than buffered further
GOODBYE_RETRY_MS = 250    # a stream ended by a restart: reconnect soon (to another worker, or the new one)
_GOODBYE = ("goodbye", {"reason": "restart"})
_HUBS: "weakref.WeakSet[Hub]" = weakref.WeakSet()   # every hub of this process, for end_all_streams

bp = Blueprint("stream", __name__)


class Hub:
    """The process's LISTEN connection and the streams it feeds, by user."""

    def __init__(self, dsn: str, db: Database):
        self.dsn = dsn
        self.db = db
        self.last_id = 0
        self._streams: dict[int, set[queue.Queue]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self._watcher = f"live-{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._watch_renew_at = 0.0
        self.ending = threading.Event()
        _HUBS.add(self)

    def subscribe(self, user_id: int) -> queue.Queue:
        inbox: queue.Queue = queue.Queue(MAX_QUEUED + 1)  # + 1: room for the goodbye
        if self.ending.is_set():
            inbox.put_nowait(_GOODBYE)
            return inbox
        self._start()
        with self._lock:
            self._streams.setdefault(user_id, set()).add(inbox)
        self._keep_awake()  # before the first event is sent: the intake must notify from now on
        return inbox

    def unsubscribe(self, user_id: int, inbox: queue.Queue) -> None:
        with self._lock:
            streams = self._streams.get(user_id, set())
            streams.discard(inbox)
            if not streams:
                self._streams.pop(user_id, None)

    def open_streams(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._streams.values())

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
                self._thread.start()

    def end_streams(self) -> None:
        """The process is stopping: every open stream says goodbye and ends, so the worker can exit at once
        (not at gunicorn's graceful_timeout) and the browsers reconnect to another worker."""
        self.ending.set()
        with self._lock:
            inboxes = [inbox for streams in self._streams.values() for inbox in streams]
        for inbox in inboxes:
            _drain(inbox)   # what it had not read yet: the page looks again after reconnecting anyway
            inbox.put_nowait(_GOODBYE)
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def _send(self, user_id: int, message: tuple[str, dict]) -> None:
        with self._lock:
            streams = list(self._streams.get(user_id, ()))
        for inbox in streams:
            if self.ending.is_set():
                return
            try:
                inbox.put_nowait(message)
            except queue.Full:  # a stalled reader: one "resync" replaces what it could not take
                _drain(inbox)
                inbox.put_nowait(("resync", {}))

    def _run(self) -> None:
        listener = Listener(self.dsn, (live.ARRIVALS_CHANNEL, live.UPDATES_CHANNEL), self._stop, "insta-connect-live")
        try:
            while not self._stop.is_set():
                self._keep_awake()
                got = listener.receive(WATCH_RENEW_SECONDS)
                if got is None:  # (re)connected: start from now, and tell every stream to look again
                    self._catch_up_start()
                    continue
                if not got:
                    continue
                time.sleep(COALESCE_SECONDS)
                more = listener.receive(0)
                got += more or []
                self._dispatch(got)
        finally:
            listener.close()

    def _keep_awake(self) -> None:
        """While streams are open, ask the intake to NOTIFY after its commits (it does only for watchers)."""
        if self.open_streams() and time.monotonic() >= self._watch_renew_at:
            try:
                live.watch_arrivals(self.db, self._watcher, WATCH_RENEW_SECONDS * 3)
                self._watch_renew_at = time.monotonic() + WATCH_RENEW_SECONDS
            except DatabaseError as exc:
                log.warning("live stream: could not ask for arrival notifications: %s", exc)

    def _catch_up_start(self) -> None:
        try:
            self.last_id = live.newest_event_id(self.db)
        except DatabaseError as exc:
            log.warning("live stream: could not read the newest event id: %s", exc)
        if not self.connected.is_set():  # the first connection: the streams just opened have missed nothing
            self.connected.set()
            return
        with self._lock:
            users = list(self._streams)
        for user_id in users:
            self._send(user_id, ("events", {"reason": "reconnected"}))

    def _dispatch(self, notifications: list[tuple[str, str]]) -> None:
        changed: dict[int, dict] = {}
        with self._lock:
            watched = set(self._streams)
        if any(channel == live.ARRIVALS_CHANNEL for channel, _ in notifications):
            try:
                per_user, self.last_id = live.arrivals(self.db, self.last_id)
            except DatabaseError as exc:
                log.warning("live stream: could not read arrivals: %s", exc)
                per_user = {}
            for user_id, found in per_user.items():
                if user_id in watched:
                    changed[user_id] = {"new": found["count"]}
        for channel, payload in notifications:
            if channel != live.UPDATES_CHANNEL:
                continue
            try:
                body = json.loads(payload)
                what, users = str(body["what"]), [int(u) for u in body["users"]]
            except (ValueError, KeyError, TypeError):
                log.warning("live stream: ignored a malformed live_updates payload")
                continue
            for user_id in users:
                if user_id not in watched:
                    continue
                if what == "events":
                    changed.setdefault(user_id, {})
                else:
                    self._send(user_id, (what, {}))
        for user_id, data in changed.items():
            self._send(user_id, ("events", data))


def _drain(inbox: queue.Queue) -> None:
    while True:
        try:
            inbox.get_nowait()
        except queue.Empty:
            return


def hub() -> Hub:
    return current_app.extensions["live_hub"]


def _frame(name: str, data: dict, event_id: int | None) -> str:
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


@bp.get("/stream")
@login_required
def stream():
    """The user's live updates; `Last-Event-ID` (or `?last_event_id=`) says what the browser saw last."""
    the_hub, user_id = hub(), current_user.id
    inbox = the_hub.subscribe(user_id)
    if not the_hub.ending.is_set():
        the_hub.connected.wait(5)  # the first stream of a process waits for the LISTEN to be in place
    seen = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or ""
    missed = False
    if seen.isdigit() and len(seen) < 19:
        try:
            missed = live.missed_since(the_hub.db, user_id, int(seen))
        except DatabaseError:
            missed = True  # unsure: let the page look again
    heartbeat = current_app.config.get("LIVE_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)
    # gunicorn keeps a finished response's connection for the next request (keepalive): a stream ended by a
    # stopping worker shuts its socket too, so the browser reconnects elsewhere and the worker can exit at once.
    client_socket = request.environ.get("gunicorn.socket")
    said_goodbye = []

    def messages():
        try:
            yield f"retry: {RETRY_MS}\n" + _frame("hello", {"user": user_id}, the_hub.last_id)
            if missed:
                yield _frame("events", {"reason": "missed"}, the_hub.last_id)
            while True:
                try:
                    name, data = inbox.get(timeout=heartbeat)
                except queue.Empty:
                    yield ": heartbeat\n\n"
                    continue
                if (name, data) == _GOODBYE:
                    said_goodbye.append(True)
                    yield f"retry: {GOODBYE_RETRY_MS}\n" + _frame(name, data, the_hub.last_id)
                    return
                yield _frame(name, data, the_hub.last_id)
        finally:
            the_hub.unsubscribe(user_id, inbox)

    response = Response(stream_with_context(messages()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each message on at once

    @response.call_on_close
    def _hang_up():  # called after the last chunk is written
        if said_goodbye and client_socket is not None:
            try:
                client_socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return response


def end_all_streams() -> None:
    """End every open stream of this process (deployment/gunicorn.conf.py calls it when a worker is told to stop)."""
    for the_hub in list(_HUBS):
        the_hub.end_streams()


def init_app(app, database: Database, dsn: str) -> None:
    app.extensions["live_hub"] = Hub(dsn, database)
