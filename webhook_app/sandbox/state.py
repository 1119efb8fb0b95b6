"""The sandbox's whole world, in memory, behind one lock: people, Pages, accounts, tokens, faults.

The routes (meta.py, tiktok.py) read and change it only through SandboxState's methods; tests and
the control API (controls.py) use the same methods, e.g. `seed_templates(waba_id, 250)`,
`expire_tokens(subject=page_id)`, `add_fault(code=2, times=1)`.
"""
from __future__ import annotations

import secrets
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

SHORT_LIVED_SECONDS = 2 * 3600
LONG_LIVED_SECONDS = 60 * 24 * 3600
CODE_SECONDS = 600
# TikTok's lifetimes (developers.tiktok.com, "Manage OAuth Access Tokens", 2026-11): 2 hours and 180 days.
TIKTOK_ACCESS_SECONDS = 2 * 3600
TIKTOK_REFRESH_SECONDS = 180 * 24 * 3600


class SandboxError(Exception):
    """An answer in Meta's (or TikTok's) error shape; routes turn it into the HTTP response."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}


def fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))


def meta_error(status: int, message: str, code: int, *, subcode: int | None = None,
               error_type: str = "OAuthException", transient: bool | None = None) -> SandboxError:
    """Meta's error body: {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}."""
    error = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    error["fbtrace_id"] = fbtrace_id()
    return SandboxError(status, {"error": error})


# Meta's own wording for the errors the sandbox can be asked to produce, by code.
META_FAULTS = {
    1: (500, "An unknown error has occurred.", "OAuthException", True),
    2: (503, "An unexpected error has occurred. Please retry your request later.", "OAuthException", True),
    4: (403, "(#4) Application request limit reached", "OAuthException", True),
    10: (403, "(#10) Application does not have permission for this action", "OAuthException", None),
    17: (403, "(#17) User request limit reached", "OAuthException", True),
    32: (403, "(#32) Page request limit reached", "OAuthException", True),
    100: (400, "(#100) Invalid parameter", "OAuthException", None),
    190: (400, "Error validating access token: Session has expired.", "OAuthException", None),
    200: (403, "(#200) Requires pages_manage_metadata permission to manage the object", "OAuthException", None),
    341: (403, "(#341) Application limit reached", "OAuthException", True),
    613: (403, "(#613) Calls to this api have exceeded the rate limit.", "OAuthException", True),
    80001: (403, "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
            "OAuthException", True),
    80002: (403, "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
            "OAuthException", True),
}


def new_id(digits: int = 15) -> str:
    return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


_TOKEN_ALPHABET = string.ascii_letters + string.digits


def new_token(prefix: str, length: int = 120) -> str:
    # One read of random bytes, not one per character: secrets.choice costs a system call each time,
    # a noticeable share of the sandbox's CPU under load (a sandbox token need not be perfectly uniform).
    return prefix + "".join(_TOKEN_ALPHABET[b % 62] for b in secrets.token_bytes(length))


@dataclass
class Token:
    value: str
    kind: str            # user_short, user_long, page, instagram, tiktok_access, tiktok_refresh
    subject: str         # Meta user id, Page id, Instagram user id or TikTok open_id
    scopes: list[str]
    issued_at: float
    expires_at: float | None
    parent: str | None = None   # a Page token lives as long as the user token it came from
    revoked: bool = False


@dataclass
class Code:
    value: str
    provider: str        # meta or tiktok
    subject: str
    redirect_uri: str
    scopes: list[str]
    expires_at: float
    used: bool = False


@dataclass
class Page:
    id: str
    name: str
    category: str = "Business"
    ig_id: str | None = None
    subscribed_fields: list[str] | None = None   # None: our app is not subscribed


@dataclass
class InstagramAccount:
    id: str
    username: str
    name: str
    followers_count: int = 1200
    follows_count: int = 80
    media: list[dict] = field(default_factory=list)
    # Instagram Login's own webhook subscription (POST /me/subscribed_apps); None: our app is not subscribed.
    subscribed_fields: list[str] | None = None


@dataclass
class Waba:
    id: str
    name: str
    currency: str = "USD"
    timezone_id: str = "1"
    namespace: str = ""
    phone_numbers: list[dict] = field(default_factory=list)
    subscribed: bool = False
    templates: list[dict] = field(default_factory=list)


@dataclass
class MetaUser:
    id: str
    name: str
    page_ids: list[str] = field(default_factory=list)
    waba_ids: list[str] = field(default_factory=list)


@dataclass
class TikTokUser:
    open_id: str
    union_id: str
    display_name: str
    avatar_url: str = "https://p16-sign.tiktokcdn.com/sandbox-avatar.jpeg"
    follower_count: int = 5400
    following_count: int = 120
    likes_count: int = 48000
    video_count: int = 37


@dataclass
class Fault:
    """Answer the next `times` matching API calls with this error (None: until cleared)."""

    code: int
    subcode: int | None = None
    times: int | None = 1
    path_contains: str | None = None
    api: str | None = None           # meta, instagram, tiktok or None for all


class SandboxState:
    """Everything the sandbox knows; thread-safe, every method takes the lock."""

    def __init__(self, app_secret: str, webhook_url: str = ""):
        self.lock = threading.RLock()
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.reset()

    # ---- setup -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything and seed the default world: one person with two Pages, one WABA, one TikTok."""
        with self.lock:
            self.users: dict[str, MetaUser] = {}
            self.pages: dict[str, Page] = {}
            self.instagram: dict[str, InstagramAccount] = {}
            self.wabas: dict[str, Waba] = {}
            self.tiktok_users: dict[str, TikTokUser] = {}
            self.tokens: dict[str, Token] = {}
            self.codes: dict[str, Code] = {}
            self.faults: list[Fault] = []
            self.usage_percent: float = 3.0
            self.latency_ms: int = 0
            self.call_limit: tuple[int, float] | None = None   # (calls, per seconds), like Meta's app limit
            self._recent_calls: deque[float] = deque()
            self.usage_peak: float = 0.0   # the highest usage any call saw since the limit was set
            self.calls: list[tuple[str, str]] = []
            self.sent_webhooks: list[dict] = []
            self.failing_webhooks: int = 0   # the next N sample webhooks go out broken (their events fail)
            self._messaging = None   # sends, their switches and counts (sandbox/messaging.py), made on first use
            self.seed_default()

    def seed_default(self) -> None:
        user = self.add_meta_user("Sandbox Owner")
        self.add_page(user.id, "Sandbox Coffee House", instagram_username="sandbox.coffee")
        self.add_page(user.id, "Sandbox Bakery", instagram_username=None)
        waba = self.add_waba(user.id, "Sandbox Coffee WhatsApp")
        self.seed_templates(waba.id, 3)
        self.add_tiktok_user("Sandbox Coffee on TikTok")

    def add_meta_user(self, name: str) -> MetaUser:
        with self.lock:
            user = MetaUser(new_id(), name)
            self.users[user.id] = user
            return user

    def add_page(self, user_id: str, name: str, *, instagram_username: str | None = None) -> Page:
        with self.lock:
            page = Page(new_id(), name)
            if instagram_username:
                ig = InstagramAccount(new_id(17), instagram_username, name)
                ig.media = [self._media(ig.id, i) for i in range(5)]
                self.instagram[ig.id] = ig
                page.ig_id = ig.id
            self.pages[page.id] = page
            self.users[user_id].page_ids.append(page.id)
            return page

    def seed_pages(self, user_id: str, count: int) -> list[Page]:
        """Add `count` more Pages (every other one with an Instagram account), e.g. to test paging."""
        return [self.add_page(user_id, f"Sandbox Page {i + 1}",
                              instagram_username=f"sandbox.page{i + 1}" if i % 2 == 0 else None)
                for i in range(count)]

    @staticmethod
    def _media(ig_id: str, i: int) -> dict:
        return {"id": new_id(17), "caption": f"Sandbox post {i + 1}", "media_type": "IMAGE",
                "media_product_type": "FEED", "like_count": 10 * (i + 1), "comments_count": i,
                "permalink": f"https://www.instagram.com/p/sandbox{i}/",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(time.time() - 86400 * i))}

    def add_instagram_account(self, username: str, name: str | None = None) -> InstagramAccount:
        """An Instagram professional account with no Facebook Page (reached by Instagram Login only)."""
        with self.lock:
            ig = InstagramAccount(new_id(17), username, name or username)
            ig.media = [self._media(ig.id, i) for i in range(3)]
            self.instagram[ig.id] = ig
            return ig

    def set_instagram_subscription(self, ig_id: str, fields: list[str] | None) -> None:
        with self.lock:
            self.instagram[ig_id].subscribed_fields = list(fields) if fields is not None else None

    def remove_subscriptions(self, object_id: str | None = None) -> int:
        """As Meta can: our app no longer subscribed to this Page, WhatsApp or Instagram account (None: any)."""
        with self.lock:
            removed = 0
            for page in self.pages.values():
                if object_id in (None, page.id) and page.subscribed_fields is not None:
                    page.subscribed_fields, removed = None, removed + 1
            for waba in self.wabas.values():
                if object_id in (None, waba.id) and waba.subscribed:
                    waba.subscribed, removed = False, removed + 1
            for ig in self.instagram.values():
                if object_id in (None, ig.id) and ig.subscribed_fields is not None:
                    ig.subscribed_fields, removed = None, removed + 1
            return removed

    def add_waba(self, user_id: str, name: str, phone_numbers: int = 2) -> Waba:
        with self.lock:
            waba = Waba(new_id(), name, namespace=secrets.token_hex(8))
            for i in range(phone_numbers):
                waba.phone_numbers.append({
                    "id": new_id(), "display_phone_number": f"+1 555-010-{1000 + i}",
                    "verified_name": name, "quality_rating": "GREEN", "code_verification_status": "VERIFIED",
                })
            self.wabas[waba.id] = waba
            self.users[user_id].waba_ids.append(waba.id)
            return waba

    def seed_templates(self, waba_id: str, count: int, *, status: str = "APPROVED") -> list[dict]:
        """Add `count` message templates to a WhatsApp Business account."""
        with self.lock:
            waba = self.wabas[waba_id]
            start = len(waba.templates)
            added = []
            for i in range(start, start + count):
                added.append({
                    "id": new_id(), "name": f"sandbox_template_{i + 1}", "language": "en_US",
                    "status": status, "category": ("MARKETING", "UTILITY", "AUTHENTICATION")[i % 3],
                    "quality_score": {"score": "GREEN" if status == "APPROVED" else "UNKNOWN"},
                    "rejected_reason": "INVALID_FORMAT" if status == "REJECTED" else "NONE",
                    "components": [
                        {"type": "HEADER", "format": "TEXT", "text": f"Update {i + 1}"},
                        {"type": "BODY", "text": "Hello {{1}}, your order {{2}} is ready.",
                         "example": {"body_text": [["Ada", "#1042"]]}},
                        {"type": "FOOTER", "text": "Sandbox Coffee"},
                        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]},
                    ],
                })
            waba.templates.extend(added)
            return added

    def delete_template(self, waba_id: str, template_id: str) -> bool:
        """Remove a template from a WhatsApp Business account, as deleting it in WhatsApp Manager does."""
        with self.lock:
            waba = self.wabas[waba_id]
            before = len(waba.templates)
            waba.templates = [t for t in waba.templates if t["id"] != template_id]
            return len(waba.templates) < before

    def add_tiktok_user(self, name: str) -> TikTokUser:
        with self.lock:
            user = TikTokUser("-000" + secrets.token_hex(14), secrets.token_hex(16), name)
            self.tiktok_users[user.open_id] = user
            return user

    # ---- accessors used by the routes ----------------------------------------------------------
    def default_meta_user(self) -> MetaUser:
        with self.lock:
            return next(iter(self.users.values()))

    def default_tiktok_user(self) -> TikTokUser:
        with self.lock:
            return next(iter(self.tiktok_users.values()))

    def page_owner(self, page_id: str) -> MetaUser | None:
        with self.lock:
            return next((u for u in self.users.values() if page_id in u.page_ids), None)

    def record_call(self, method: str, path: str) -> None:
        with self.lock:
            self.calls.append((method, path))

    def calls_to(self, fragment: str) -> int:
        with self.lock:
            return sum(1 for _, path in self.calls if fragment in path)

    # ---- codes and tokens ----------------------------------------------------------------------
    def issue_code(self, provider: str, subject: str, redirect_uri: str, scopes: list[str]) -> str:
        with self.lock:
            code = Code(secrets.token_urlsafe(48), provider, subject, redirect_uri, scopes,
                        time.time() + CODE_SECONDS)
            self.codes[code.value] = code
            return code.value

    def redeem_code(self, value: str, redirect_uri: str | None) -> Code:
        """A code is good once, for 10 minutes, for the redirect_uri it was issued to."""
        with self.lock:
            code = self.codes.get(value or "")
            if code is None:
                raise meta_error(400, "Invalid verification code format.", 100, subcode=36009)
            if code.used:
                raise meta_error(400, "This authorization code has been used.", 100, subcode=36009)
            if code.expires_at < time.time():
                raise meta_error(400, "This authorization code has expired.", 100, subcode=36007)
            if redirect_uri is not None and redirect_uri != code.redirect_uri:
                raise meta_error(400, "Error validating verification code. Please make sure your redirect_uri is "
                                      "identical to the one you used in the OAuth dialog request", 100,
                                 subcode=36008)
            code.used = True
            return code

    def issue_token(self, kind: str, subject: str, scopes: Iterable[str] = (), *, lifetime: float | None,
                    parent: str | None = None, prefix: str | None = None) -> Token:
        with self.lock:
            prefixes = {"instagram": "IGAA", "tiktok_access": "act.", "tiktok_refresh": "rft."}
            value = new_token(prefix or prefixes.get(kind, "EAAS"))
            now = time.time()
            token = Token(value, kind, subject, list(scopes), now, now + lifetime if lifetime else None, parent)
            self.tokens[value] = token
            return token

    def token_problem(self, token: Token | None) -> str | None:
        """Why a token cannot be used: 'invalid', 'expired', 'revoked', or None when it is good."""
        with self.lock:
            if token is None:
                return "invalid"
            chain = [token]
            while chain[-1].parent and chain[-1].parent in self.tokens and len(chain) < 5:
                chain.append(self.tokens[chain[-1].parent])
            if any(t.revoked for t in chain):
                return "revoked"
            if any(t.expires_at is not None and t.expires_at < time.time() for t in chain):
                return "expired"
            return None

    def check_meta_token(self, value: str | None, kinds: Iterable[str] | None = None) -> Token:
        """The token if Meta would accept it, else the error body Meta answers."""
        with self.lock:
            if not value:
                raise meta_error(400, "An active access token must be used to query information about the "
                                      "current user.", 2500)
            token = self.tokens.get(value)
            problem = self.token_problem(token)
            if problem == "invalid":
                raise meta_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
            if problem == "revoked":
                raise meta_error(400, "Error validating access token: The user has not authorized application.",
                                 190, subcode=458)
            if problem == "expired":
                raise meta_error(400, "Error validating access token: Session has expired.", 190, subcode=463)
            if kinds is not None and token.kind not in kinds:
                raise meta_error(400, "(#100) This endpoint requires a different kind of access token", 100)
            return token

    def find_tokens(self, *, value: str | None = None, subject: str | None = None,
                    kind: str | None = None) -> list[Token]:
        with self.lock:
            return [t for t in self.tokens.values()
                    if (value is None or t.value == value) and (subject is None or t.subject == subject)
                    and (kind is None or t.kind == kind)]

    def expire_tokens(self, **match) -> int:
        """Make matching tokens expired (value=, subject=, kind=); returns how many."""
        with self.lock:
            found = self.find_tokens(**match)
            for token in found:
                token.expires_at = time.time() - 1
            return len(found)

    def revoke_tokens(self, **match) -> int:
        """As if the person removed the app: matching tokens (and those derived from them) stop working."""
        with self.lock:
            found = self.find_tokens(**match)
            for token in found:
                token.revoked = True
            return len(found)

    def age_tokens(self, hours: float, **match) -> int:
        """Pretend matching tokens were issued `hours` earlier (Instagram refresh needs 24 h)."""
        with self.lock:
            found = self.find_tokens(**match)
            for token in found:
                token.issued_at -= hours * 3600
            return len(found)

    def all_token_values(self) -> list[str]:
        with self.lock:
            return list(self.tokens)

    # ---- faults, usage, latency ----------------------------------------------------------------
    def add_fault(self, code: int, *, subcode: int | None = None, times: int | None = 1,
                  path_contains: str | None = None, api: str | None = None) -> Fault:
        with self.lock:
            fault = Fault(int(code), subcode, times, path_contains, api)
            self.faults.append(fault)
            return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, api: str, path: str) -> Fault | None:
        """The first fault that applies to this call, counting it down."""
        with self.lock:
            for fault in self.faults:
                if (fault.api in (None, api)) and (not fault.path_contains or fault.path_contains in path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
            return None

    def set_usage(self, percent: float) -> None:
        with self.lock:
            self.usage_percent = float(percent)

    def set_call_limit(self, calls: int | None, window_seconds: float = 60.0) -> None:
        """Report usage as the share of `calls` made in the last `window_seconds`; above 100% refuse (code 4)."""
        with self.lock:
            self.call_limit = (int(calls), float(window_seconds)) if calls else None
            self._recent_calls.clear()
            self.usage_peak = 0.0

    def usage_now(self, *, count: bool = True) -> float:
        """The usage percentage this call sees: the set level, or the share of the call limit used.

        `count=False` only looks (a benchmark watching the usage): the look is not a call.
        """
        with self.lock:
            if self.call_limit is None:
                return self.usage_percent
            calls, window = self.call_limit
            now = time.monotonic()
            if count:
                self._recent_calls.append(now)
            while self._recent_calls and self._recent_calls[0] < now - window:
                self._recent_calls.popleft()
            percent = max(self.usage_percent, 100.0 * len(self._recent_calls) / calls)
            if count:
                self.usage_peak = max(self.usage_peak, percent)
            return percent

    def counters(self) -> dict:
        """The cheap figures a benchmark reads while the sandbox is busy: calls, usage now and at its peak."""
        with self.lock:
            return {"calls": len(self.calls), "usage_now": self.usage_now(count=False),
                    "usage_peak": self.usage_peak, "latency_ms": self.latency_ms,
                    "call_limit": None if self.call_limit is None else
                    {"calls": self.call_limit[0], "window_seconds": self.call_limit[1]}}

    def set_latency(self, ms: int) -> None:
        with self.lock:
            self.latency_ms = max(0, int(ms))

    def summary(self) -> dict:
        """What the control page shows; tokens appear only as short prefixes."""
        with self.lock:
            return {
                "webhook_url": self.webhook_url,
                "usage_percent": self.usage_percent,
                "latency_ms": self.latency_ms,
                "faults": [vars(f).copy() for f in self.faults],
                "meta_users": [{"id": u.id, "name": u.name, "pages": u.page_ids, "wabas": u.waba_ids}
                               for u in self.users.values()],
                "pages": [{"id": p.id, "name": p.name, "instagram_business_account": p.ig_id,
                           "subscribed_fields": p.subscribed_fields} for p in self.pages.values()],
                "instagram": [{"id": i.id, "username": i.username} for i in self.instagram.values()],
                "wabas": [{"id": w.id, "name": w.name, "subscribed": w.subscribed, "templates": len(w.templates),
                           "phone_numbers": [p["id"] for p in w.phone_numbers]} for w in self.wabas.values()],
                "tiktok_users": [{"open_id": t.open_id, "display_name": t.display_name}
                                 for t in self.tiktok_users.values()],
                "tokens": [{"prefix": t.value[:10] + "…", "kind": t.kind, "subject": t.subject,
                            "problem": self.token_problem(t)} for t in self.tokens.values()],
                "calls": len(self.calls),
                "sent_webhooks": self.sent_webhooks[-20:],
            }
