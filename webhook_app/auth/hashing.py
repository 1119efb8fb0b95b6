"""bcrypt, run off the event loop: under gevent a hash would stall every delivery the worker serves.

bcrypt releases the GIL while it hashes, so in gevent's native thread pool a login costs the
receiver's event loop nothing; without gevent (tests, `make run`'s threads) it runs in place.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import bcrypt

Result = TypeVar("Result")


def _off_loop(work: Callable[..., Result], *args) -> Result:
    try:
        from gevent import monkey
    except ImportError:  # gevent is a runtime dependency, but the pure-thread servers do not need it
        return work(*args)
    if not monkey.is_module_patched("socket"):
        return work(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(work, args)


def hash_password(password: bytes, rounds: int) -> bytes:
    return _off_loop(lambda: bcrypt.hashpw(password, bcrypt.gensalt(rounds)))


def check_password(password: bytes, hashed: bytes) -> bool:
    return _off_loop(bcrypt.checkpw, password, hashed)
