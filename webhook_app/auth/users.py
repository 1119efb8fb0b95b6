"""Users: creating them, checking their passwords, loading them for Flask-Login."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from flask_login import UserMixin

from webhook_app.auth.hashing import check_password, hash_password
from webhook_app.db import Database

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72  # bcrypt looks at no more than 72 bytes; refuse rather than truncate silently.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


class InvalidRegistration(ValueError):
    """The email or password does not meet the rules; the message says which."""


class EmailTaken(ValueError):
    """Another account already uses this email."""


@dataclass
class User(UserMixin):
    id: int
    email: str


def validate(email: str, password: str) -> str:
    """Return the normalised email, or raise InvalidRegistration with a message for the user."""
    email = (email or "").strip()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidRegistration("Enter a valid email address.")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidRegistration(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise InvalidRegistration(f"Use a password of at most {MAX_PASSWORD_BYTES} bytes.")
    return email


def create_user(db: Database, email: str, password: str, rounds: int) -> User:
    email = validate(email, password)
    password_hash = hash_password(password.encode(), rounds).decode()
    row = db.one("create_user", email=email, password_hash=password_hash)
    if row is None:
        raise EmailTaken("An account with this email already exists.")
    return User(id=row["id"], email=row["email"])


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> bytes:
    """A hash to check against when the email is unknown, so both failures take the same time."""
    return hash_password(b"not-a-password", rounds)


def authenticate(db: Database, email: str, password: str, rounds: int) -> User | None:
    """The user if the email and password match; None otherwise, in about the same time."""
    row = db.one("get_user_by_email", email=(email or "").strip())
    candidate = (password or "").encode()[:MAX_PASSWORD_BYTES]
    if row is None:
        check_password(candidate, _dummy_hash(rounds))
        return None
    if not check_password(candidate, row["password_hash"].encode()):
        return None
    db.run("record_login", user_id=row["id"])
    return User(id=row["id"], email=row["email"])


def load_user(db: Database, user_id: str) -> User | None:
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    row = db.one("get_user", user_id=uid)
    return User(id=row["id"], email=row["email"]) if row else None
