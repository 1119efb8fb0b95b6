"""One `make run` per var/ directory and per port: a second one names the first and leaves it alone."""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK_FILE = "make-run.lock"


class AlreadyRunning(Exception):
    """Another `make run` holds this var/ directory or one of its ports; the message names it."""


class InstanceLock:
    """An exclusive flock on VAR_DIR/make-run.lock, held for the life of the process (the kernel drops it at exit)."""

    def __init__(self, var_dir: Path):
        self.path = var_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, description: dict) -> None:
        """Take the lock and write who holds it, or raise AlreadyRunning naming the holder (file untouched)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise AlreadyRunning(_describe(holder, self.path.parent)) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({**description, "pid": os.getpid(), "started": time.time()}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> dict:
    try:
        raw = os.pread(fd, 4096, 0)
        holder = json.loads(raw.decode() or "{}")
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict, var_dir: Path) -> str:
    since = time.strftime("%H:%M:%S UTC", time.gmtime(holder["started"])) if holder.get("started") else "?"
    return (f"Insta Connect is already running on {holder.get('url', '?')} (pid {holder.get('pid', '?')}, "
            f"data in {var_dir}, since {since}); stop it with Ctrl-C there first.")


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (a bind test, like the servers' own)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(host: str, ports: dict[str, int]) -> None:
    """Raise AlreadyRunning for the first of `ports` (name -> port) that is taken."""
    for name, port in ports.items():
        if port_in_use(host, port):
            raise AlreadyRunning(f"http://{host}:{port} ({name}) is already in use, by another `make run` or "
                                 f"another program; stop it there first, or set {name} to a free port.")
