"""`make run` as a user starts it: `python -m webhook_app.run_local` in its own process, its output read line by line."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.support.live import ROOT, free_port


def run_local_env(base: dict[str, str], var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `make run` on its own ports and var/ (no sandbox URLs: it finds its own)."""
    env = {k: v for k, v in base.items() if not k.endswith("_URL") or k == "DATABASE_URL"}
    env.update(VAR_DIR=str(var_dir), HOST="127.0.0.1", PORT=str(free_port()), SANDBOX_PORT=str(free_port()),
               GUNICORN_WORKERS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class MakeRun:
    """One `make run`; `wait_for(pattern)` waits for a line of its output; `stop()` is Ctrl-C."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.sandbox_url = f"http://127.0.0.1:{env['SANDBOX_PORT']}"
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen([sys.executable, "-m", "webhook_app.run_local"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 90.0, start: int = 0) -> int:
        """The index of the first line from `start` matching `pattern`; fails with the output so far."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if regex.search(self.lines[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r} in {timeout:g}s; output:\n" + "\n".join(self.lines[-60:]))
                self._cond.wait(min(left, 0.5))

    def wait_ready(self, timeout: float = 90.0) -> "MakeRun":
        self.wait_for(r"Insta Connect is running at", timeout)
        return self

    def child_pids(self, fragment: str) -> list[int]:
        """Pids of this run's direct children whose command line contains `fragment`."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.proc.pid and fragment in cmdline:
                found.append(int(entry.name))
        return found

    def sandbox(self, method: str, path: str, **json_body) -> dict:
        """Call the sandbox's control API (as its control page's buttons do)."""
        response = requests.request(method, f"{self.sandbox_url}/_sandbox/api/{path}", json=json_body if method != "GET" else None,
                                    timeout=30)
        assert response.ok, response.text
        return response.json()

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        return self.proc.returncode
