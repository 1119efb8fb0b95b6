"""Every setting the service reads, in one place, with its type and default (SPEC 4)."""
from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Secrets that development generates once into var/ and production must be given.
GENERATED_SECRETS = ("SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "META_APP_SECRET", "META_VERIFY_TOKEN")

# Where each API lives under the sandbox's base URL (SPEC 11); the settings field -> path.
SANDBOX_PATHS = {
    "meta_graph_url": "/graph",
    "meta_dialog_url": "/facebook",
    "instagram_graph_url": "/instagram",
    "instagram_auth_url": "/instagram-web",
    "instagram_api_url": "/instagram-api",
    "tiktok_api_url": "/tiktok",
    "tiktok_auth_url": "/tiktok-web",
}
# The running sandbox writes its address here (under VAR_DIR), so every job command finds it.
SANDBOX_ADDRESS_FILE = "sandbox/address.json"

DEFAULT_RATELIMITS = {
    "RATELIMIT_API_ANONYMOUS": "100 per 15 minutes",
    "RATELIMIT_API_USER": "1000 per 15 minutes",
    "RATELIMIT_LOGIN_FAILURES": "5 per 15 minutes",
    "RATELIMIT_REGISTER": "20 per hour",
    "RATELIMIT_SYNC": "10 per 15 minutes",
    "RATELIMIT_CONNECT": "50 per 24 hours",
}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    database_url: str | None = None
    # LISTEN needs a session of its own: behind PgBouncer's transaction pooling, a direct URL (SPEC 18).
    database_listen_url: str | None = None
    secret_key: str = ""
    token_encryption_keys: tuple[bytes, ...] = ()
    meta_app_id: str | None = None
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    # The newest version Meta serves (accounts/graph.py: GRAPH_VERSION_CALENDAR says until when each is served).
    meta_graph_version: str = "v26.0"
    meta_graph_url: str = "https://graph.facebook.com"
    meta_dialog_url: str = "https://www.facebook.com"
    instagram_graph_url: str = "https://graph.instagram.com"
    # Instagram API with Instagram Login: the consent page (www.instagram.com) and the code exchange
    # (api.instagram.com); its other calls go to instagram_graph_url.
    instagram_auth_url: str = "https://www.instagram.com"
    instagram_api_url: str = "https://api.instagram.com"
    tiktok_client_key: str | None = None
    tiktok_client_secret: str | None = None
    tiktok_api_url: str = "https://open.tiktokapis.com"
    tiktok_auth_url: str = "https://www.tiktok.com"
    host: str = "127.0.0.1"
    port: int = 5000
    sandbox_port: int = 5001
    public_base_url: str = ""
    ratelimit_storage_uri: str | None = None
    ratelimits: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_RATELIMITS))
    bcrypt_rounds: int = 12
    session_lifetime_days: int = 30
    log_level: str = "INFO"
    var_dir: Path = PROJECT_ROOT / "var"
    db_pool_max: int = 10
    webhook_max_body: int = 5 * 1024 * 1024
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    webhook_lease_seconds: float = 15.0
    webhook_retention_days: int = 30
    # Optional mutual TLS (SPEC 7): nginx verifies Meta's client certificate and says so in headers.
    webhook_require_mtls: bool = False
    webhook_mtls_common_name: str = "client.webhooks.fbclientcerts.com"
    token_refresh_window_days: int = 7
    token_refresh_concurrency: int = 4
    token_health_cache_seconds: int = 300
    trusted_proxy_count: int = 0
    jobs_poll_seconds: float = 5.0
    data_sync_spacing_seconds: float = 2.0
    # make run's scheduler checks tokens this often against the sandbox (systemd's 30 min otherwise),
    # so an expired sandbox token shows its banner within a minute.
    sandbox_token_monitor_seconds: float = 20.0
    # An account that usually gets webhooks every day is "silent" after this long without one (accounts/silence.py).
    silence_alarm_hours: float = 6.0
    # Replies (SPEC 16): the pace per WhatsApp phone number and per Instagram account, shared by every sender.
    whatsapp_messages_per_second: float = 80.0
    instagram_calls_per_second: float = 100.0
    # A message in `sending` longer than this (its sender died mid-call) becomes `unknown`: never resent on its
    # own. Longer than the send call's own timeout, so a slow answer is not taken for a dead sender.
    sender_lease_seconds: float = 30.0
    sender_retry_delays: tuple[float, ...] = (2.0, 10.0, 60.0, 300.0)
    sender_max_attempts: int = 6

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def listen_url(self) -> str | None:
        """Where the workers LISTEN: DATABASE_LISTEN_URL, or DATABASE_URL when it is not set."""
        return self.database_listen_url or self.database_url

    @property
    def sandbox_enabled(self) -> bool:
        """Meta and TikTok are imitated by the built-in sandbox when no Meta app is configured."""
        return not self.meta_app_id

    @property
    def meta_client_id(self) -> str:
        """The OAuth client id sent to Meta; the sandbox accepts any id with the shared app secret."""
        return self.meta_app_id or "sandbox-app"

    @property
    def tiktok_key(self) -> str:
        return self.tiktok_client_key or "sandbox-client-key"

    @property
    def meta_app_secrets(self) -> tuple[str, ...]:
        """META_APP_SECRET's secrets, newest first: two while the app secret is rotated at Meta (SPEC 7)."""
        return tuple(s.strip() for s in self.meta_app_secret.split(",") if s.strip())

    @property
    def current_meta_app_secret(self) -> str:
        """The newest app secret: the one our calls to Meta use."""
        return next(iter(self.meta_app_secrets), "")

    @property
    def tiktok_secret(self) -> str:
        """TikTok's client secret; with the sandbox, the shared META_APP_SECRET stands in."""
        return self.tiktok_client_secret or self.current_meta_app_secret

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)


def _number(env: Mapping[str, str], name: str, default, convert, what: str):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return convert(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "a whole number")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number of seconds")


def _hours(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number of hours")


def _floats(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated seconds, got {raw!r}") from None


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true or false), got {raw!r}")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).rstrip("/")


def _upper(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).upper()


DEFAULTS = Settings()

# Settings read from one variable each, with the default above: field -> (variable, reader).
_VARIABLES = {
    "meta_graph_version": ("META_GRAPH_VERSION", _text),
    "meta_graph_url": ("META_GRAPH_URL", _url),
    "meta_dialog_url": ("META_DIALOG_URL", _url),
    "instagram_graph_url": ("INSTAGRAM_GRAPH_URL", _url),
    "instagram_auth_url": ("INSTAGRAM_AUTH_URL", _url),
    "instagram_api_url": ("INSTAGRAM_API_URL", _url),
    "tiktok_api_url": ("TIKTOK_API_URL", _url),
    "tiktok_auth_url": ("TIKTOK_AUTH_URL", _url),
    "host": ("HOST", _text),
    "port": ("PORT", _int),
    "sandbox_port": ("SANDBOX_PORT", _int),
    "bcrypt_rounds": ("BCRYPT_ROUNDS", _int),
    "session_lifetime_days": ("SESSION_LIFETIME_DAYS", _int),
    "log_level": ("LOG_LEVEL", _upper),
    "db_pool_max": ("DB_POOL_MAX", _int),
    "webhook_retry_delays": ("WEBHOOK_RETRY_DELAYS", _floats),
    "webhook_lease_seconds": ("WEBHOOK_LEASE_SECONDS", _float),
    "webhook_retention_days": ("WEBHOOK_RETENTION_DAYS", _int),
    "webhook_require_mtls": ("WEBHOOK_REQUIRE_MTLS", _flag),
    "webhook_mtls_common_name": ("WEBHOOK_MTLS_COMMON_NAME", _text),
    "token_refresh_window_days": ("TOKEN_REFRESH_WINDOW_DAYS", _int),
    "token_refresh_concurrency": ("TOKEN_REFRESH_CONCURRENCY", _int),
    "token_health_cache_seconds": ("TOKEN_HEALTH_CACHE_SECONDS", _int),
    "trusted_proxy_count": ("TRUSTED_PROXY_COUNT", _int),
    "jobs_poll_seconds": ("JOBS_POLL_SECONDS", _float),
    "data_sync_spacing_seconds": ("DATA_SYNC_SPACING_SECONDS", _float),
    "sandbox_token_monitor_seconds": ("SANDBOX_TOKEN_MONITOR_SECONDS", _float),
    "silence_alarm_hours": ("SILENCE_ALARM_HOURS", _hours),
    "whatsapp_messages_per_second": ("WHATSAPP_MESSAGES_PER_SECOND", _float),
    "instagram_calls_per_second": ("INSTAGRAM_CALLS_PER_SECOND", _float),
    "sender_lease_seconds": ("SENDER_LEASE_SECONDS", _float),
    "sender_retry_delays": ("SENDER_RETRY_DELAYS", _floats),
    "sender_max_attempts": ("SENDER_MAX_ATTEMPTS", _int),
}


def parse_encryption_keys(raw: str, name: str = "TOKEN_ENCRYPTION_KEYS") -> tuple[bytes, ...]:
    """Decode comma-separated base64 keys, newest first; each must be 32 bytes (AES-256)."""
    keys = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            key = base64.b64decode(part, validate=True)
        except ValueError:
            raise ConfigError(f"{name} holds a value that is not base64") from None
        if len(key) != 32:
            raise ConfigError(f"{name} holds a key of {len(key)} bytes; each must be 32")
        keys.append(key)
    if not keys:
        raise ConfigError(f"{name} is empty")
    return tuple(keys)


def _dev_secrets(var_dir: Path) -> dict[str, str]:
    """Secrets generated once into var/ so development runs keep their sessions and tokens."""
    path = var_dir / "dev-secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    fresh = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(48),
        "TOKEN_ENCRYPTION_KEYS": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        "META_APP_SECRET": lambda: secrets.token_hex(16),
        "META_VERIFY_TOKEN": lambda: secrets.token_urlsafe(24),
    }
    missing = [name for name in fresh if not stored.get(name)]
    if missing:
        for name in missing:
            stored[name] = fresh[name]()
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)
    return stored


def sandbox_address(var_dir: Path, host: str, port: int) -> str:
    """The base URL of the development sandbox: what the running one wrote into var/, else HOST:SANDBOX_PORT."""
    try:
        url = json.loads((var_dir / SANDBOX_ADDRESS_FILE).read_text()).get("url")
    except (OSError, ValueError, AttributeError):
        url = None
    return (url if isinstance(url, str) and url.startswith("http") else f"http://{host}:{port}").rstrip("/")


def _sandbox_urls(env: dict[str, str], var_dir: Path) -> None:
    """In sandbox mode, every API base not set explicitly points at the sandbox (no URLs to export)."""
    host = env.get("HOST", DEFAULTS.host)
    port = _int(env, "SANDBOX_PORT", DEFAULTS.sandbox_port)
    base = sandbox_address(var_dir, host, port)
    for field_name, path in SANDBOX_PATHS.items():
        variable = _VARIABLES[field_name][0]
        if variable.startswith("TIKTOK_") and env.get("TIKTOK_CLIENT_KEY"):
            continue
        env.setdefault(variable, base + path)


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv_path: Path | None = None) -> Settings:
    """Read the environment (over `.env`) into Settings; refuse a broken production setup."""
    if environ is None:
        env_file = dotenv_path or PROJECT_ROOT / ".env"
        merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.exists() else {}
        merged.update(os.environ)
        environ = merged
    env = {k: v for k, v in environ.items() if v != ""}

    app_env = env.get("APP_ENV", DEFAULTS.app_env)
    if app_env not in ("development", "production"):
        raise ConfigError(f"APP_ENV must be 'development' or 'production', got {app_env!r}")
    production = app_env == "production"
    var_dir = Path(env.get("VAR_DIR", DEFAULTS.var_dir)).resolve()

    if production:
        for name in ("DATABASE_URL", "META_APP_ID", *GENERATED_SECRETS, "PUBLIC_BASE_URL"):
            if not env.get(name):
                raise ConfigError(f"{name} must be set when APP_ENV=production")
    else:
        generated = None
        for name in GENERATED_SECRETS:
            if not env.get(name):
                generated = generated or _dev_secrets(var_dir)
                env[name] = generated[name]
        if not env.get("META_APP_ID"):
            _sandbox_urls(env, var_dir)

    values = {field: read(env, variable, getattr(DEFAULTS, field)) for field, (variable, read) in _VARIABLES.items()}
    values["public_base_url"] = (env.get("PUBLIC_BASE_URL") or f"http://{values['host']}:{values['port']}").rstrip("/")
    return Settings(
        app_env=app_env,
        database_url=env.get("DATABASE_URL"),
        database_listen_url=env.get("DATABASE_LISTEN_URL"),
        secret_key=env["SECRET_KEY"],
        token_encryption_keys=parse_encryption_keys(env["TOKEN_ENCRYPTION_KEYS"]),
        meta_app_id=env.get("META_APP_ID"),
        meta_app_secret=env["META_APP_SECRET"],
        meta_verify_token=env["META_VERIFY_TOKEN"],
        tiktok_client_key=env.get("TIKTOK_CLIENT_KEY"),
        tiktok_client_secret=env.get("TIKTOK_CLIENT_SECRET"),
        ratelimit_storage_uri=env.get("RATELIMIT_STORAGE_URI"),
        ratelimits={name: env.get(name, default) for name, default in DEFAULT_RATELIMITS.items()},
        var_dir=var_dir,
        **values,
    )


def load_settings_or_exit() -> Settings:
    """For commands: the settings, or one line on stderr naming what is wrong and exit status 2 (SPEC 4)."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
