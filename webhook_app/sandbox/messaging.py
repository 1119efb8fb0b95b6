"""Meta's send APIs imitated, and the status webhooks Meta then sends back.

- WhatsApp Cloud API `POST /{version}/{phone-number-id}/messages`: text, image/video/audio/document by link,
  template (must exist in the number's WhatsApp Business account, APPROVED, with as many parameters as its
  {{n}}: else 132001 / 132000); at most `per_second` messages a second per phone number, 130429 above it.
  Then `statuses` webhooks: sent -> delivered -> read (`biz_opaque_callback_data`, `pricing`, and
  `conversation` for versions before v24.0, as Meta's "Status messages webhook reference" says), or `failed`
  with `errors` for a fault set for that stage.
- Messenger `POST /{version}/{page-id}/messages` (Page token, `messaging_type`) and Instagram
  `POST /{version}/{ig-user-id}/messages` (the linked Page's token): `{"recipient_id", "message_id"}`, then
  the echo (`is_echo`, with the message's `metadata`), `delivery` (Messenger) and `read` webhooks; a recipient
  `{"comment_id"}` is a private reply. Comment replies: Instagram `POST /{ig-comment-id}/replies` and Facebook
  `POST /{comment-id}/comments`, `{"message"}` -> `{"id"}`.

The test hooks of the issue-16 contract live in `Messaging` (one per sandbox world): faults for the next N
sends, holding sends open until released, every send received (with its body) and the accepted sends per
our outbound id (WhatsApp's `biz_opaque_callback_data`, else the message's `metadata`), the pace limit, and
the status switches (on/off, delay, "before the answer"). controls.py serves them under /_sandbox/api/messaging.
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

import requests
from flask import Blueprint, current_app, request

from webhook_app.sandbox import samples
from webhook_app.sandbox.common import api_route, bearer_token, check_proof, state
from webhook_app.sandbox.state import META_FAULTS, SandboxError, SandboxState, Token, fbtrace_id, meta_error, new_id

log = logging.getLogger(__name__)

bp = Blueprint("sandbox_messaging", __name__, url_prefix="/graph")
ig_bp = Blueprint("sandbox_messaging_instagram", __name__, url_prefix="/instagram")   # graph.instagram.com

DEFAULT_PER_SECOND = 80.0          # Cloud API throughput per business phone number (Meta's "Throughput")
WHATSAPP_TEXT_MAX = 4096
MESSENGER_TEXT_MAX = 2000
INSTAGRAM_TEXT_MAX = 1000
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
ATTACHMENT_TYPES = ("image", "video", "audio", "file")
SENDS_KEPT = 50_000

# WhatsApp Cloud API errors (Meta's "WhatsApp error codes" page): code -> (HTTP status, title, details).
WHATSAPP_ERRORS = {
    1: (400, "API Unknown", "Invalid request or possible server error."),
    2: (503, "API Service", "Temporary due to downtime or due to being overloaded."),
    4: (400, "API Too Many Calls", "The app has reached its API call rate limit."),
    10: (403, "Permission Denied", "Permission is either not granted or has been removed."),
    100: (400, "Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
    190: (401, "Access token has expired", "Your access token has expired."),
    200: (403, "API Permission", "Permission is either not granted or has been removed."),
    130429: (429, "Rate limit hit", "Cloud API message throughput has been reached."),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error."),
    131008: (400, "Required parameter is missing", "The request is missing a required parameter."),
    131009: (400, "Parameter value is not valid", "One or more parameter values are invalid."),
    131026: (400, "Message Undeliverable", "Unable to deliver message. Reasons can include: the recipient phone "
                                           "number is not a WhatsApp phone number; the recipient has not accepted "
                                           "the new Terms of Service; the recipient uses an old WhatsApp version."),
    131047: (400, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the "
                                           "customer last replied to this number."),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone number to the "
             "same phone number in a short period of time."),
    132000: (400, "Number of parameters does not match the expected number of params",
             "The number of variable parameter values included in the request did not match the number of "
             "variable parameters defined in the template."),
    132001: (404, "Template name does not exist in the translation",
             "The template does not exist in the specified language or the template has not been approved."),
}
TRANSIENT_WHATSAPP = {1, 2, 4, 130429, 131000, 131056}
# Messenger / Instagram send API errors (Messenger Platform "Error codes"), beyond state.META_FAULTS.
GRAPH_SEND_ERRORS = {
    551: (400, "This person isn't available right now.", 1545041),
    2018278: (400, "(#10) This message is sent outside of allowed window.", None),   # code 10, this subcode
}
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


# ---- the world of sends ---------------------------------------------------------------------------

@dataclass
class SendFault:
    """Answer the next `times` sends (of `account`, of `channel`; None: any) with error `code`.

    stage "answer": the send call answers the error; stage "status": it is accepted, then the status
    webhook says `failed` with that error (WhatsApp), or nothing more comes (Messenger, Instagram).
    """

    code: int
    times: int | None = 1
    account: str | None = None
    channel: str | None = None
    stage: str = "answer"
    subcode: int | None = None


@dataclass
class Send:
    """One send call the sandbox received, and what it answered."""

    n: int
    channel: str            # whatsapp, messenger, instagram, instagram_comment, facebook_comment
    account: str            # phone number id, Page id, Instagram user id, or the comment id replied to
    path: str
    body: dict
    outbound_id: str | None
    received_at: float
    outcome: str = "pending"    # accepted, error, held
    status: int | None = None
    error_code: int | None = None
    message_id: str | None = None
    answered_at: float | None = None

    def view(self) -> dict:
        return {k: getattr(self, k) for k in ("n", "channel", "account", "path", "body", "outbound_id", "outcome",
                                               "status", "error_code", "message_id", "received_at", "answered_at")}


class _Bucket:
    """A token bucket: `per_second` sends a second, `burst` of them at once (Meta states the rate, not a burst)."""

    def __init__(self, per_second: float, burst: float):
        self.per_second, self.burst = per_second, burst
        self.tokens, self.at = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Messaging:
    """Everything the send APIs remember and every switch the tests turn; thread-safe, one lock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.released = threading.Condition(self.lock)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.sends: list[Send] = []
            self.counts: dict[str, int] = {}
            self.faults: list[SendFault] = []
            self.per_second: dict[str | None, float] = {None: DEFAULT_PER_SECOND}   # None: every number
            self.burst_seconds: dict[str | None, float] = {None: 0.1}   # the bucket holds this many seconds' worth
            self._buckets: dict[str, _Bucket] = {}
            self.statuses_enabled = True
            self.status_delay = 0.05
            self.status_before_answer = False
            self.hold: dict | None = None        # {"account", "seconds", "accept"}
            self.holding = 0
            self._release_round = 0
            self.refused: dict[str, int] = {}    # error code -> how many send calls answered it
            self.webhooks_sent = 0       # deliveries the receiver answered 200
            self.updates_sent = 0        # statuses / messaging items in them
            self.webhooks_failed = 0
            self._n = itertools.count(1)

    # ---- switches ------------------------------------------------------------------------------
    def add_fault(self, code: int, *, times: int | None = 1, account: str | None = None, channel: str | None = None,
                  stage: str = "answer", subcode: int | None = None) -> SendFault:
        if stage not in ("answer", "status"):
            raise ValueError("stage must be answer or status")
        with self.lock:
            fault = SendFault(int(code), times, account, channel, stage, subcode)
            self.faults.append(fault)
            return fault

    def take_fault(self, channel: str, account: str) -> SendFault | None:
        with self.lock:
            for fault in self.faults:
                if fault.account in (None, account) and fault.channel in (None, channel):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
            return None

    def set_pace(self, per_second: float, account: str | None = None, burst_seconds: float | None = None) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be above 0")
        with self.lock:
            self.per_second[account] = float(per_second)
            if burst_seconds is not None:
                self.burst_seconds[account] = max(0.0, float(burst_seconds))
            self._buckets.clear()

    def within_pace(self, account: str) -> bool:
        with self.lock:
            bucket = self._buckets.get(account)
            if bucket is None:
                rate = self.per_second.get(account, self.per_second[None])
                burst = self.burst_seconds.get(account, self.burst_seconds[None])
                bucket = self._buckets[account] = _Bucket(rate, max(1.0, rate * burst))
            return bucket.take()

    def set_hold(self, account: str | None = None, seconds: float | None = None, accept: bool = True) -> None:
        with self.lock:
            self.hold = {"account": account, "seconds": seconds, "accept": bool(accept)}

    def release(self) -> int:
        """Let every held send go on and stop holding new ones; how many were held."""
        with self.lock:
            held, self.hold = self.holding, None
            self._release_round += 1
            self.released.notify_all()
            return held

    def wait_if_held(self, account: str) -> bool:
        """Block while the hold switch is on for `account`; False when the held send is to be dropped."""
        with self.lock:
            hold = self.hold
            if hold is None or hold["account"] not in (None, account):
                return True
            round_ = self._release_round
            deadline = None if hold["seconds"] is None else time.monotonic() + float(hold["seconds"])
            self.holding += 1
            try:
                while self._release_round == round_:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self.released.wait(left if left is not None else 1.0)
            finally:
                self.holding -= 1
            return hold["accept"]

    def set_statuses(self, *, enabled: bool | None = None, delay_ms: float | None = None,
                     before_answer: bool | None = None) -> None:
        with self.lock:
            if enabled is not None:
                self.statuses_enabled = bool(enabled)
            if delay_ms is not None:
                self.status_delay = max(0.0, float(delay_ms) / 1000)
            if before_answer is not None:
                self.status_before_answer = bool(before_answer)

    # ---- the record ----------------------------------------------------------------------------
    def received(self, channel: str, account: str, body: dict, outbound_id: str | None) -> Send:
        with self.lock:
            send = Send(next(self._n), channel, account, request.path, body, outbound_id, time.time())
            self.sends.append(send)
            if len(self.sends) > SENDS_KEPT:
                del self.sends[: len(self.sends) - SENDS_KEPT]
            return send

    def answered(self, send: Send, status: int, *, message_id: str | None = None, error_code: int | None = None,
                 outcome: str | None = None) -> None:
        with self.lock:
            send.status, send.message_id, send.error_code = status, message_id, error_code
            send.outcome = outcome or ("accepted" if status == 200 else "error")
            send.answered_at = time.time()
            if send.outcome == "accepted" and send.outbound_id:
                self.counts[send.outbound_id] = self.counts.get(send.outbound_id, 0) + 1
            if error_code is not None:
                self.refused[str(error_code)] = self.refused.get(str(error_code), 0) + 1

    def find_sends(self, *, outbound_id: str | None = None, channel: str | None = None,
                   account: str | None = None, after: int = 0, limit: int = 100) -> list[dict]:
        with self.lock:
            found = [s for s in self.sends if s.n > after and (outbound_id is None or s.outbound_id == outbound_id)
                     and (channel is None or s.channel == channel) and (account is None or s.account == account)]
            return [s.view() for s in found[:limit]]

    def summary(self) -> dict:
        with self.lock:
            accepted = sum(1 for s in self.sends if s.outcome == "accepted")
            return {"sends": len(self.sends), "accepted": accepted, "refused": dict(self.refused),
                    "holding": self.holding, "hold": self.hold, "faults": [vars(f).copy() for f in self.faults],
                    "per_second": {k or "default": v for k, v in self.per_second.items()},
                    "burst_seconds": {k or "default": v for k, v in self.burst_seconds.items()},
                    "statuses": {"enabled": self.statuses_enabled, "delay_ms": round(self.status_delay * 1000, 3),
                                 "before_answer": self.status_before_answer},
                    "webhooks_sent": self.webhooks_sent, "updates_sent": self.updates_sent,
                    "webhooks_failed": self.webhooks_failed,
                    "webhooks_queued": _queued(self)}


def world(sandbox: SandboxState) -> Messaging:
    """The sends world of a sandbox (made on first use; `SandboxState.reset` forgets it)."""
    with sandbox.lock:
        found = getattr(sandbox, "_messaging", None)
        if found is None:
            found = sandbox._messaging = Messaging()
        return found


# ---- status webhooks, sent from background lanes ----------------------------------------------------

@dataclass(order=True)
class _Due:
    at: float
    seq: int
    group: tuple = field(compare=False)       # (object, entry id, field or "messaging", phone number id)
    item: dict = field(compare=False)          # a WhatsApp status, or a messaging item


class _Lane(threading.Thread):
    """Posts due webhooks in time order; all of one account go through one lane, so they keep their order.

    Items due together for the same account go out as one delivery (Meta batches the same way: several
    `statuses` in one change, several `messaging` items in one entry).
    """

    BATCH = 50

    def __init__(self, sandbox: SandboxState, messaging: Messaging):
        super().__init__(name="sandbox-status-webhooks", daemon=True)
        self.sandbox, self.messaging = sandbox, messaging
        self.heap: list[_Due] = []
        self.cond = threading.Condition()
        self.http = requests.Session()

    def put(self, due: _Due) -> None:
        with self.cond:
            heapq.heappush(self.heap, due)
            self.cond.notify()

    def _next_batch(self) -> list[_Due] | None:
        """The next due items of one account (waiting for them); None after 30 s with nothing to do."""
        with self.cond:
            while not self.heap or self.heap[0].at > time.monotonic():
                timeout = 30.0 if not self.heap else self.heap[0].at - time.monotonic()
                if not self.cond.wait(timeout) and not self.heap:
                    return None
            first = heapq.heappop(self.heap)
            batch = [first]
            now = time.monotonic()
            while self.heap and self.heap[0].at <= now and len(batch) < self.BATCH \
                    and self.heap[0].group == first.group:
                batch.append(heapq.heappop(self.heap))
            return batch

    def run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                if _retire(self):
                    return
                continue
            post_webhook(self.sandbox, self.messaging, batch[0].group, [d.item for d in batch], http=self.http)


_lanes_lock = threading.Lock()
LANES = 4


def _lanes(messaging: Messaging) -> list:
    return messaging.__dict__.setdefault("_lanes", [None] * LANES)


def _retire(lane: _Lane) -> bool:
    """An idle lane leaves (a sandbox of a finished test keeps no thread); False if work came meanwhile."""
    with _lanes_lock:
        with lane.cond:
            if lane.heap:
                return False
            lanes = _lanes(lane.messaging)
            if lane in lanes:
                lanes[lanes.index(lane)] = None
            return True


def _queued(messaging: Messaging) -> int:
    return sum(len(lane.heap) for lane in _lanes(messaging) if lane is not None)


def schedule(sandbox: SandboxState, messaging: Messaging, group: tuple, items: list[dict], first_delay: float) -> None:
    """Send `items` (in order) one status delay apart, starting `first_delay` seconds from now."""
    with _lanes_lock:
        lanes = _lanes(messaging)
        index = hash(group) % LANES
        lane = lanes[index]
        if lane is None or not lane.is_alive():
            lane = lanes[index] = _Lane(sandbox, messaging)
            lane.start()
        at = time.monotonic() + first_delay
        for item in items:
            lane.put(_Due(at, next(_seq), group, item))
            at += messaging.status_delay


_seq = itertools.count()


def envelope(group: tuple, items: list[dict]) -> dict:
    """One delivery in Meta's shape for items of one account."""
    obj, entry_id, kind, extra = group
    now_ms = int(time.time() * 1000)
    if kind == "messaging":
        return {"object": obj, "entry": [{"id": entry_id, "time": now_ms, "messaging": items}]}
    phone_id, display = extra
    return {"object": obj, "entry": [{"id": entry_id, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": display, "phone_number_id": phone_id},
        "statuses": items}}]}]}


def post_webhook(sandbox: SandboxState, messaging: Messaging, group: tuple, items: list[dict], *,
                 http=None) -> int | None:
    """Sign and POST one delivery to the app's receiver, as Meta does; the HTTP status (None: unreachable)."""
    body = json.dumps(envelope(group, items), separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": samples.sign(body, sandbox.app_secret),
               "User-Agent": "facebookexternalua"}
    try:
        answer = (http or requests).post(sandbox.webhook_url, data=body, headers=headers, timeout=10)
        status = answer.status_code
    except requests.RequestException as exc:
        log.warning("sandbox: a status webhook did not reach %s (%s)", sandbox.webhook_url, type(exc).__name__)
        status = None
    with messaging.lock:
        if status == 200:
            messaging.webhooks_sent += 1
            messaging.updates_sent += len(items)
        else:
            messaging.webhooks_failed += 1
    return status


def deliver(sandbox: SandboxState, messaging: Messaging, group: tuple, items: list[dict]) -> None:
    """The status webhooks of one accepted send: before the answer (the race switch) or soon after it."""
    if not items or not messaging.statuses_enabled:
        return
    if messaging.status_before_answer:
        for item in items:
            post_webhook(sandbox, messaging, group, [item])
        return
    schedule(sandbox, messaging, group, items, messaging.status_delay)


# ---- request helpers --------------------------------------------------------------------------------

def _body() -> dict:
    """The JSON body, or form fields (values holding JSON decoded), as the Graph API accepts both."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise meta_error(400, "(#100) The request body must be a JSON object", 100)
        return body
    body = {}
    for name, value in request.form.items():
        if name in ("access_token", "appsecret_proof"):
            continue
        try:
            body[name] = json.loads(value) if value[:1] in "{[" else value
        except ValueError:
            body[name] = value
    return body


def _token() -> Token:
    value = bearer_token()
    token = state().check_meta_token(value)
    check_proof(value)
    return token


def _unknown(object_id: str) -> SandboxError:
    return meta_error(400, f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded "
                           "due to missing permissions, or does not support this operation. Please read the Graph "
                           "API documentation at https://developers.facebook.com/docs/graph-api", 100, subcode=33,
                      error_type="GraphMethodException")


def whatsapp_error(code: int, details: str | None = None, *, subcode: int | None = None) -> SandboxError:
    status, title, default_details = WHATSAPP_ERRORS.get(code, (400, "Sandbox error", "An error set on the sandbox."))
    if code == 190:
        message = "Error validating access token: Session has expired."
    else:
        message = f"(#{code}) {title}"
    error = {"message": message, "type": "OAuthException", "code": code,
             "error_data": {"messaging_product": "whatsapp", "details": details or default_details}}
    if subcode is not None:
        error["error_subcode"] = subcode
    if code in TRANSIENT_WHATSAPP:
        error["is_transient"] = True
    error["fbtrace_id"] = fbtrace_id()
    return SandboxError(status, {"error": error})


def graph_send_error(code: int, subcode: int | None = None) -> SandboxError:
    """A Messenger / Instagram send API error in the Graph shape."""
    if code == 131047 or (code == 10 and subcode == 2018278):
        status, message, _ = GRAPH_SEND_ERRORS[2018278]
        return meta_error(status, message, 10, subcode=2018278)
    if code in (551, 131026):
        status, message, sub = GRAPH_SEND_ERRORS[551]
        return meta_error(status, message, 551, subcode=subcode or sub)
    if code in (130429, 131056):
        code = 613
    status, message, error_type, transient = META_FAULTS.get(
        code, (WHATSAPP_ERRORS.get(code, (400,))[0], f"(#{code}) Sandbox error", "OAuthException", None))
    return meta_error(status, message, code, subcode=subcode, error_type=error_type, transient=transient)


def _send_call(channel: str, account: str, body: dict, outbound_id: str | None, check, accept, error_for):
    """What every send shares: record it, check its body, hold it open, inject a fault or refuse it, else accept it.

    `check()` validates the body (raising Meta's error) and returns what `accept(send, context, fault)` needs;
    `accept` answers the success body and schedules the webhooks; `error_for(code, subcode)` makes the
    channel's error for a fault.
    """
    sandbox = state()
    messaging = world(sandbox)
    send = messaging.received(channel, account, body, outbound_id)
    try:
        context = check()
        if not messaging.wait_if_held(account):
            messaging.answered(send, 0, outcome="dropped")
            raise error_for(131000, None)
        fault = messaging.take_fault(channel, account)
        if fault is not None and fault.stage == "answer":
            raise error_for(fault.code, fault.subcode)
        if channel == "whatsapp" and not messaging.within_pace(account):
            raise error_for(130429, None)
        return accept(send, context, fault if fault is not None and fault.stage == "status" else None)
    except SandboxError as exc:
        if send.outcome == "pending":
            messaging.answered(send, exc.status, error_code=exc.body.get("error", {}).get("code"))
        raise


def _text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


# ---- WhatsApp -----------------------------------------------------------------------------------------

def _phone(phone_id: str, token: Token):
    """The WhatsApp Business account and phone number `phone_id`, if the token may send from it."""
    sandbox = state()
    with sandbox.lock:
        for waba in sandbox.wabas.values():
            for phone in waba.phone_numbers:
                if phone["id"] == phone_id:
                    owner = sandbox.users.get(token.subject) if token.kind in ("user_short", "user_long") else None
                    if owner is None or waba.id not in owner.waba_ids:
                        raise _unknown(phone_id)
                    if "whatsapp_business_messaging" not in token.scopes:
                        raise whatsapp_error(200, "Requires whatsapp_business_messaging permission.")
                    return waba, phone
    return None


def _template_check(waba, template: dict) -> dict:
    """The template of the sandbox world the request names; 132001 / 132000 as Meta answers them."""
    name = template.get("name")
    language = template.get("language") or {}
    code = language.get("code") if isinstance(language, dict) else None
    if not _text(name) or not _text(code):
        raise whatsapp_error(131008, "template name and language.code are required")
    found = next((t for t in waba.templates if t["name"] == name and t["language"] == code), None)
    if found is None or found.get("status") != "APPROVED":
        raise whatsapp_error(132001, f"template name ({name}) does not exist in {code}")
    components = template.get("components") or []
    if not isinstance(components, list):
        raise whatsapp_error(131009, "template components must be a list")
    for part in ("header", "body"):
        expected = 0
        for component in found.get("components", []):
            if str(component.get("type", "")).lower() == part and component.get("text"):
                expected = len(set(_PLACEHOLDER.findall(component["text"])))
        parameters = [c.get("parameters") or [] for c in components
                      if isinstance(c, dict) and str(c.get("type", "")).lower() == part]
        if not all(isinstance(p, list) for p in parameters):
            raise whatsapp_error(131009, f"{part} parameters must be a list")
        given = sum(len(p) for p in parameters)
        if given != expected:
            raise whatsapp_error(132000, f"{part}: number of localizable_params ({given}) does not match the "
                                         f"expected number of params ({expected})")
    return found


def _whatsapp_content(body: dict, waba) -> tuple[str, dict | None]:
    """Check the message of a send; its type and (for a template) the sandbox's template."""
    if body.get("messaging_product") != "whatsapp":
        raise whatsapp_error(100, "The parameter messaging_product is required and must be whatsapp.")
    if not _text(body.get("to")):
        raise whatsapp_error(131008, "The parameter to is required.")
    kind = body.get("type") or "text"
    if not isinstance(kind, str):
        raise whatsapp_error(131009, f"Param type must be one of text, template, {', '.join(MEDIA_TYPES)}.")
    content = body.get(kind)
    if kind == "text":
        text = _text((content or {}).get("body")) if isinstance(content, dict) else None
        if text is None:
            raise whatsapp_error(131008, "The parameter text['body'] is required.")
        if len(text) > WHATSAPP_TEXT_MAX:
            raise whatsapp_error(100, f"Param text['body'] must be at most {WHATSAPP_TEXT_MAX} characters long.")
        return kind, None
    if kind in MEDIA_TYPES:
        link = content.get("link") if isinstance(content, dict) else None
        if not (isinstance(link, str) and link.startswith(("http://", "https://"))) and not (
                isinstance(content, dict) and _text(content.get("id"))):
            raise whatsapp_error(131008, f"The parameter {kind}['link'] or {kind}['id'] is required.")
        if kind == "audio" and content.get("caption"):
            raise whatsapp_error(131009, "Param audio['caption'] is not supported for audio.")
        return kind, None
    if kind == "template":
        if not isinstance(content, dict):
            raise whatsapp_error(131008, "The parameter template is required.")
        return kind, _template_check(waba, content)
    raise whatsapp_error(131009, f"Param type must be one of text, template, {', '.join(MEDIA_TYPES)}.")


def _version_major(version: str) -> int:
    found = re.match(r"v(\d+)", version or "")
    return int(found.group(1)) if found else 99


def whatsapp_statuses(wamid: str, to: str, body: dict, template: dict | None, version: str,
                      fault: SendFault | None) -> list[dict]:
    """The status updates Meta sends for an accepted message: sent, delivered, read, or sent then failed."""
    base = {"id": wamid, "recipient_id": to}
    if isinstance(body.get("biz_opaque_callback_data"), str):
        base["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
    category = str(template.get("category", "")).lower() if template else "service"
    pricing = {"billable": category != "service", "pricing_model": "PMP", "type": "regular", "category": category}
    conversation = {"id": secrets.token_hex(16), "expiration_timestamp": str(int(time.time()) + 86400),
                    "origin": {"type": category}}
    out = []
    for name in ("sent", "delivered", "read"):
        if fault is not None and name == "delivered":
            status, title, details = WHATSAPP_ERRORS.get(fault.code, (400, "Sandbox error", "An error set on the sandbox."))
            out.append({**base, "status": "failed", "timestamp": str(int(time.time())), "errors": [{
                "code": fault.code, "title": title, "message": title, "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]})
            break
        status = {**base, "status": name, "timestamp": str(int(time.time()))}
        if name in ("sent", "delivered"):
            if _version_major(version) < 24:   # Meta: omitted for v24.0+ (but free entry point conversations)
                status["conversation"] = conversation
            status["pricing"] = pricing
        out.append(status)
    return out


def whatsapp_send(version: str, phone_id: str, token: Token, found):
    waba, phone = found
    body = _body()
    outbound_id = body.get("biz_opaque_callback_data") if isinstance(body.get("biz_opaque_callback_data"), str) \
        else None
    sandbox = state()
    messaging = world(sandbox)

    def accept(send: Send, checked: tuple, fault: SendFault | None):
        kind, template = checked
        to = str(body["to"]).lstrip("+")
        wamid = "wamid.HBgL" + secrets.token_hex(24).upper()
        answer = {"messaging_product": "whatsapp", "contacts": [{"input": str(body["to"]), "wa_id": to}],
                  "messages": [{"id": wamid, **({"message_status": "accepted"} if kind == "template" else {})}]}
        display = phone["display_phone_number"].replace(" ", "").replace("-", "").lstrip("+")
        group = ("whatsapp_business_account", waba.id, "changes", (phone_id, display))
        deliver(sandbox, messaging, group, whatsapp_statuses(wamid, to, body, template, version, fault))
        messaging.answered(send, 200, message_id=wamid)
        return answer

    def error_for(code, subcode):
        return whatsapp_error(code, subcode=subcode)

    return _send_call("whatsapp", phone_id, body, outbound_id, lambda: _whatsapp_content(body, waba), accept,
                      error_for)


# ---- Messenger and Instagram ----------------------------------------------------------------------------

def _message_check(body: dict, limit: int) -> dict:
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not (_text(recipient.get("id")) or _text(recipient.get("comment_id"))):
        raise meta_error(400, "(#100) The parameter recipient is required", 100)
    message = body.get("message")
    if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
        raise meta_error(400, "(#100) Param message must be a non-empty object", 100)
    text = message.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > limit):
        raise meta_error(400, f"(#100) Length of param message[text] must be less than or equal to {limit}", 100)
    attachment = message.get("attachment")
    if attachment is not None:
        if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
            raise meta_error(400, f"(#100) Param message[attachment][type] must be one of "
                                  f"{', '.join(ATTACHMENT_TYPES)}", 100)
        url = (attachment.get("payload") or {}).get("url") if isinstance(attachment.get("payload"), dict) else None
        if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise meta_error(400, "(#100) Param message[attachment][payload][url] must be a valid URL", 100)
    return message


def _conversation_send(channel: str, account_id: str, limit: int):
    """Messenger (Page) or Instagram (its Page's token) send API, a private reply when recipient is a comment."""
    body = _body()
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    outbound_id = message.get("metadata") if isinstance(message.get("metadata"), str) else None
    sandbox = state()
    messaging = world(sandbox)

    def check() -> dict:
        if channel == "messenger" and body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG", None):
            raise meta_error(400, "(#100) Param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG", 100)
        return _message_check(body, limit)

    def accept(send: Send, checked: dict, fault: SendFault | None):
        recipient = body["recipient"]
        person = recipient.get("id") or (samples.PSID if channel == "messenger" else samples.IG_CUSTOMERS[0][0])
        mid = ("m_" if channel == "messenger" else "aWdfZAG1faXRlbToxOklH") + secrets.token_hex(24)
        answer = {"recipient_id": person, "message_id": mid}
        now_ms = int(time.time() * 1000)
        echo = {"mid": mid, "is_echo": True, "app_id": "sandbox-app",
                **{k: checked[k] for k in ("text", "attachment", "metadata") if k in checked}}
        if isinstance(echo.get("attachment"), dict):
            echo["attachments"] = [echo.pop("attachment")]
        items = [{"sender": {"id": account_id}, "recipient": {"id": person}, "timestamp": now_ms, "message": echo}]
        if fault is None:
            if channel == "messenger":
                items.append({"sender": {"id": person}, "recipient": {"id": account_id}, "timestamp": now_ms,
                              "delivery": {"mids": [mid], "watermark": now_ms}})
                items.append({"sender": {"id": person}, "recipient": {"id": account_id}, "timestamp": now_ms,
                              "read": {"watermark": now_ms}})
            else:
                items.append({"sender": {"id": person}, "recipient": {"id": account_id}, "timestamp": now_ms,
                              "read": {"mid": mid}})
        obj = "page" if channel == "messenger" else "instagram"
        deliver(sandbox, messaging, (obj, account_id, "messaging", None), items)
        messaging.answered(send, 200, message_id=mid)
        return answer

    kind = channel if not (isinstance(body.get("recipient"), dict) and body["recipient"].get("comment_id")) \
        else f"{channel}_private_reply"
    return _send_call(kind, account_id, body, outbound_id, check, accept, graph_send_error)


@bp.post("/<version>/<object_id>/messages")
@api_route("meta")
def send_message(version: str, object_id: str):
    """WhatsApp, Messenger or Instagram send API, by the kind of object the id names."""
    token = _token()
    sandbox = state()
    found = _phone(object_id, token)
    if found is not None:
        return whatsapp_send(version, object_id, token, found)
    with sandbox.lock:
        page = sandbox.pages.get(object_id)
        ig_page = next((p for p in sandbox.pages.values() if p.ig_id == object_id), None)
    if page is not None:
        if not (token.kind == "page" and token.subject == object_id):
            raise meta_error(403, "(#210) A page access token is required to request this resource.", 210)
        return _conversation_send("messenger", object_id, MESSENGER_TEXT_MAX)
    if object_id in sandbox.instagram:
        if not (token.kind == "page" and ig_page is not None and token.subject == ig_page.id):
            raise meta_error(403, "(#230) Requires pages_messaging permission to manage the object", 230)
        return _conversation_send("instagram", object_id, INSTAGRAM_TEXT_MAX)
    raise _unknown(object_id)


def instagram_login_send(ig_id: str):
    """graph.instagram.com's send API (Instagram Login token, already checked): as the Graph API's Instagram send."""
    return _conversation_send("instagram", ig_id, INSTAGRAM_TEXT_MAX)


@ig_bp.post("/<version>/<object_id>/replies")
@api_route("instagram")
def instagram_login_comment_reply(version: str, object_id: str):
    """graph.instagram.com: reply publicly to a comment with the Instagram Login token."""
    value = bearer_token()
    token = state().check_meta_token(value)
    if token.kind != "instagram":
        raise meta_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
    return _comment_reply("instagram_comment", object_id, token)


def _comment_reply(channel: str, comment_id: str, token: Token):
    body = _body()
    if token.kind not in ("page", "user_long", "user_short", "instagram"):
        raise meta_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
    messaging = world(state())

    def check() -> None:
        if not _text(body.get("message")):
            raise meta_error(400, "(#100) The parameter message is required", 100)

    def accept(send: Send, checked: None, fault: SendFault | None):
        if channel == "instagram_comment":
            reply_id = new_id(17)
        else:
            reply_id = f"{comment_id.split('_')[0]}_{new_id()}"
        messaging.answered(send, 200, message_id=reply_id)
        return {"id": reply_id}

    return _send_call(channel, comment_id, body, None, check, accept, graph_send_error)


@bp.post("/<version>/<object_id>/replies")
@api_route("meta")
def instagram_comment_reply(version: str, object_id: str):
    """Instagram: reply publicly to a comment (`message`) -> {"id"} of the new comment."""
    return _comment_reply("instagram_comment", object_id, _token())


@bp.post("/<version>/<object_id>/comments")
@api_route("meta")
def facebook_comment_reply(version: str, object_id: str):
    """Facebook: comment on a comment (or post) of the Page (`message`) -> {"id"} of the new comment."""
    return _comment_reply("facebook_comment", object_id, _token())


def messaging_world() -> Messaging:
    """The current sandbox's sends world, for the control routes."""
    return world(current_app.extensions["sandbox"])


# ---- the control API of the send APIs (the contract's test hooks), under /_sandbox ---------------------

controls_bp = Blueprint("sandbox_messaging_controls", __name__, url_prefix="/_sandbox")


def _flag(value) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "on", "yes")


def _number(args: dict, name: str, kind=float, default=None):
    value = args.get(name, default)
    if value is None or value == "always":
        return None if value is None else value
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None


def _control(view):
    """A control action: JSON in and out (or a form post back to the page); bad values answer 400."""
    from webhook_app.sandbox.controls import _args, _done

    def inner(*args, **kwargs):
        try:
            result, notice = view(_args(), *args, **kwargs)
        except (ValueError, TypeError) as exc:
            return _done({"error": str(exc)}, 400, notice=f"Not done: {exc}")
        return _done(result, notice=notice)

    inner.__name__ = view.__name__
    inner.__doc__ = view.__doc__
    return inner


@controls_bp.get("/api/messaging")
def messaging_summary():
    """Switches and counters of the send APIs."""
    return messaging_world().summary()


@controls_bp.post("/api/messaging/reset")
@controls_bp.post("/messaging/reset")
@_control
def messaging_reset(args):
    """Forget every send, fault, hold and switch (the world's accounts stay)."""
    messaging_world().release()
    messaging_world().reset()
    return {"reset": True}, "Sends forgotten; switches back to their defaults."


@controls_bp.post("/api/messaging/faults")
@controls_bp.post("/messaging/faults")
@_control
def messaging_fault(args):
    """The next `times` sends (of `account`, `channel`) answer error `code` (stage=status: failed afterwards)."""
    if "code" not in args:
        raise ValueError("code is required")
    times = _number(args, "times", int, 1)
    fault = messaging_world().add_fault(_number(args, "code", int), times=None if times == "always" else times,
                                        account=args.get("account"), channel=args.get("channel"),
                                        stage=args.get("stage", "answer"), subcode=_number(args, "subcode", int))
    return {"fault": vars(fault)}, f"The next {fault.times or 'every'} send(s) answer error {fault.code}."


@controls_bp.post("/api/messaging/faults/clear")
@controls_bp.post("/messaging/faults/clear")
@_control
def messaging_faults_clear(args):
    with messaging_world().lock:
        messaging_world().faults.clear()
    return {"cleared": True}, "Send faults cleared."


@controls_bp.post("/api/messaging/hold")
@controls_bp.post("/messaging/hold")
@_control
def messaging_hold(args):
    """Hold send calls open (of `account`, or all) until released, or for `seconds`; accept=false drops them."""
    accept = _flag(args.get("accept"))
    messaging_world().set_hold(args.get("account"), _number(args, "seconds"), True if accept is None else accept)
    return {"hold": messaging_world().hold}, "Send calls are held open until released."


@controls_bp.post("/api/messaging/release")
@controls_bp.post("/messaging/release")
@_control
def messaging_release(args):
    held = messaging_world().release()
    return {"released": held}, f"Released {held} held send call(s)."


@controls_bp.get("/api/messaging/sends")
def messaging_sends():
    """The send calls received (oldest first), filtered by outbound_id, channel, account; `after` a number."""
    args = request.args
    try:
        after, limit = int(args.get("after", 0)), max(1, min(SENDS_KEPT, int(args.get("limit", 100))))
    except ValueError:
        return {"error": "after and limit must be whole numbers"}, 400
    sends = messaging_world().find_sends(outbound_id=args.get("outbound_id"), channel=args.get("channel"),
                                         account=args.get("account"), after=after, limit=limit)
    return {"sends": sends}


@controls_bp.get("/api/messaging/counts")
def messaging_counts():
    """Accepted sends per our outbound id."""
    with messaging_world().lock:
        return {"counts": dict(messaging_world().counts)}


@controls_bp.get("/api/messaging/counts/<path:outbound_id>")
def messaging_count(outbound_id: str):
    with messaging_world().lock:
        return {"outbound_id": outbound_id, "count": messaging_world().counts.get(outbound_id, 0)}


@controls_bp.post("/api/messaging/pace")
@controls_bp.post("/messaging/pace")
@_control
def messaging_pace(args):
    """WhatsApp messages a second per phone number (`account`, or the default), 130429 above it."""
    per_second = _number(args, "per_second")
    if per_second is None or per_second <= 0:
        raise ValueError("per_second must be a number above 0")
    messaging_world().set_pace(per_second, args.get("account"), _number(args, "burst_seconds"))
    return {"per_second": per_second, "account": args.get("account")}, f"Pace limit {per_second:g} messages/s."


@controls_bp.post("/api/messaging/statuses")
@controls_bp.post("/messaging/statuses")
@_control
def messaging_statuses(args):
    """Status webhooks: enabled, delay_ms between sent -> delivered -> read, before_answer (the race)."""
    messaging_world().set_statuses(enabled=_flag(args.get("enabled")), delay_ms=_number(args, "delay_ms"),
                                   before_answer=_flag(args.get("before_answer")))
    return messaging_world().summary()["statuses"], "Status webhook switches set."
