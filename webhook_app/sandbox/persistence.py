"""The sandbox's world kept on disk under var/, so a restarted `make run` still knows every account.

Generic over SandboxState: every attribute that `reset()` creates is saved (except TRANSIENT ones and
those starting with `_`), dataclasses tagged with their class, so a field or dataclass added to
state.py is kept with no code here. Loading an older file tolerates what changed since: unknown
fields and classes are dropped, missing fields take their defaults (or None), missing attributes
keep the fresh world's value.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import threading
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Not part of the world: the lock, the settings it was started with, the call log (tests' counter).
TRANSIENT = frozenset({"lock", "app_secret", "webhook_url", "calls"})
_TAG, _TUPLE, _DEQUE, _SET, _ITEMS = "__dataclass__", "__tuple__", "__deque__", "__set__", "__items__"
_MODULE_PREFIX = "webhook_app.sandbox."


class _Unsaveable(TypeError):
    pass


def encode(value):
    """A JSON-ready copy of `value`; dataclasses carry their class name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {_TAG: f"{type(value).__module__}:{type(value).__qualname__}"}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {_ITEMS: [[encode(k), encode(v)] for k, v in value.items()]}   # e.g. tuple keys
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {_TUPLE: [encode(v) for v in value]}
    if isinstance(value, deque):
        return {_DEQUE: [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {_SET: [encode(v) for v in value]}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise _Unsaveable(type(value).__name__)


def _dataclass(tag: str):
    module_name, _, qualname = tag.partition(":")
    if not module_name.startswith(_MODULE_PREFIX):   # only our own classes are ever built from a file
        return None
    try:
        target = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return target if dataclasses.is_dataclass(target) else None


def decode(value):
    """The inverse of `encode`; an object of a class that no longer exists decodes to None."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if _TAG in value:
        cls = _dataclass(value[_TAG])
        if cls is None:
            return None
        kwargs = {}
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            if f.name in value:
                kwargs[f.name] = decode(value[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                kwargs[f.name] = None   # a field added without a default since the file was written
        return cls(**kwargs)
    if _is_marked(value):
        marker, items = next(iter(value.items()))
        if marker == _ITEMS:
            return {_hashable(decode(k)): decode(v) for k, v in items}
        kind = {_TUPLE: tuple, _DEQUE: deque, _SET: set}[marker]
        return kind(decode(v) for v in items)
    return {k: decode(v) for k, v in value.items()}


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _gone(raw, decoded) -> bool:
    """An object whose class no longer exists: left out of its collection rather than kept as None."""
    return decoded is None and isinstance(raw, dict) and _TAG in raw


def _is_marked(value: dict) -> bool:
    return len(value) == 1 and next(iter(value)) in (_TUPLE, _DEQUE, _SET, _ITEMS)


def _decode_collection(value):
    if isinstance(value, dict) and _TAG not in value and not _is_marked(value):
        pairs = ((k, v, decode(v)) for k, v in value.items())
        return {k: d for k, raw, d in pairs if not _gone(raw, d)}
    if isinstance(value, list):
        return [d for raw, d in ((v, decode(v)) for v in value) if not _gone(raw, d)]
    return decode(value)


def _saved_names(state) -> list[str]:
    return [name for name in vars(state) if name not in TRANSIENT and not name.startswith("_")]


def snapshot(state) -> dict:
    """The world as a JSON-ready dict (taken under the state's lock)."""
    world = {}
    with state.lock:
        for name in _saved_names(state):
            try:
                world[name] = encode(getattr(state, name))
            except _Unsaveable as exc:
                log.debug("sandbox: %s is not saved (holds a %s)", name, exc)
    return {"version": FORMAT_VERSION, "world": world}


def save(state, path: Path) -> None:
    """Write the world atomically (a crash mid-write leaves the previous file)."""
    data = json.dumps(snapshot(state), separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(data)
    tmp.chmod(0o600)   # it holds the sandbox's tokens
    tmp.replace(path)


def restore(state, path: Path) -> bool:
    """Replace the fresh world with the saved one; False (fresh world kept) when there is none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        log.warning("sandbox: %s is unreadable (%s); starting a new world", path, exc)
        return False
    world = data.get("world") if isinstance(data, dict) else None
    if not isinstance(world, dict):
        log.warning("sandbox: %s holds no world; starting a new world", path)
        return False
    with state.lock:
        known = set(_saved_names(state))
        for name, value in world.items():
            if name in known:
                setattr(state, name, _decode_collection(value))
    return True


class AutoSave:
    """Saves the world shortly after something changed it, and once more at stop."""

    def __init__(self, state, path: Path, delay: float = 0.2):
        self.state, self.path, self.delay = state, path, delay
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-autosave", daemon=True)

    def start(self) -> "AutoSave":
        self._thread.start()
        return self

    def changed(self) -> None:
        self._changed.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._changed.wait()
            if self._stopping.wait(self.delay):
                break
            self._changed.clear()
            self._save()

    def _save(self) -> None:
        try:
            save(self.state, self.path)
        except OSError as exc:
            log.error("sandbox: cannot save its world to %s (%s)", self.path, exc)

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()
        self._thread.join(5)
        self._save()
