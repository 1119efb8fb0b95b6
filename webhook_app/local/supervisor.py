"""Keeps `make run`'s long-running children alive: a child that exits is started again after a growing pause."""
from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# A child that ran this long before exiting is restarted after the shortest pause again.
HEALTHY_SECONDS = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Running:
    child: Child
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0              # exits in a row, each within HEALTHY_SECONDS of its start
    restart_at: float | None = None


class Supervisor:
    """Start every child, restart the ones that exit (with backoff and one log line), stop them all in order."""

    def __init__(self, children: list[Child], env: dict[str, str], cwd: Path, say: Callable[[str], None] = print):
        self._running = [_Running(c) for c in children]
        self.env, self.cwd, self.say = env, cwd, say

    def _start(self, entry: _Running) -> None:
        # Own session: the terminal's Ctrl-C reaches only `make run`, which stops the children in order.
        entry.proc = subprocess.Popen(entry.child.argv, cwd=self.cwd, env={**self.env, **entry.child.env},
                                      start_new_session=True)
        entry.started_at = time.monotonic()
        entry.restart_at = None

    def start(self) -> None:
        for entry in self._running:
            self._start(entry)

    def pid(self, name: str) -> int | None:
        entry = next((e for e in self._running if e.child.name == name), None)
        return entry.proc.pid if entry and entry.proc and entry.proc.poll() is None else None

    def alive(self, name: str) -> bool:
        return self.pid(name) is not None

    def check(self) -> None:
        """Notice exits and start again whatever is due."""
        now = time.monotonic()
        for entry in self._running:
            if entry.restart_at is not None:
                if now >= entry.restart_at:
                    self._start(entry)
                continue
            code = entry.proc.poll() if entry.proc else None
            if code is None:
                continue
            entry.failures = 1 if now - entry.started_at >= HEALTHY_SECONDS else entry.failures + 1
            pause = BACKOFF[min(entry.failures, len(BACKOFF)) - 1]
            how = f"code {code}"
            if code < 0:
                try:
                    how = f"signal {signal.Signals(-code).name}"
                except ValueError:
                    how = f"signal {-code}"
            self.say(f"{entry.child.name} exited ({how}); restarting it in {pause:g}s "
                     f"(restart {entry.failures} in a row)")
            entry.restart_at = now + pause

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to every child, wait for all, SIGKILL what is left after `timeout`."""
        live = [e for e in self._running if e.proc is not None and e.proc.poll() is None]
        for entry in live:
            entry.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for entry in live:
            try:
                entry.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{entry.child.name} did not stop in time; killing it")
                entry.proc.kill()
                entry.proc.wait()
