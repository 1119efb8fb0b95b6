"""Every timed job as deployment/systemd describes it: the timer's OnCalendar= and the service's ExecStart=.

The timer files are the one record of when each job runs; `make run`'s scheduler and the "run now"
API read them here rather than keeping a second copy of the times.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from webhook_app.config import PROJECT_ROOT
from webhook_app.timed_jobs.calendar import Calendar

UNITS_DIR = PROJECT_ROOT / "deployment" / "systemd"
UNIT_PREFIX = "insta-connect-"
INSTALL_ROOT = "/opt/insta-connect"   # where deploy.sh puts the code (deployment/ units name it)


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values]}} (keys may repeat, as OnCalendar= does)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = sections.setdefault("", {})
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if sep:
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


@dataclass(frozen=True)
class TimedJob:
    name: str                      # the unit's name without prefix and suffix, e.g. "refresh-tokens"
    description: str
    calendars: tuple[Calendar, ...]
    argv: tuple[str, ...]          # the service's command as this machine runs it (this Python, this checkout)
    persistent: bool

    def next_after(self, moment: datetime) -> datetime | None:
        found = [c.next_after(moment) for c in self.calendars]
        return min((f for f in found if f is not None), default=None)

    @property
    def schedule(self) -> str:
        return "; ".join(c.expression for c in self.calendars)


def local_argv(exec_start: str, root: Path = PROJECT_ROOT) -> tuple[str, ...]:
    """ExecStart= with the installed paths replaced by this checkout's and this interpreter."""
    words = shlex.split(exec_start.lstrip("-@:+!"))
    out = []
    for word in words:
        if word in (f"{INSTALL_ROOT}/.venv/bin/python", f"{INSTALL_ROOT}/.venv/bin/python3"):
            out.append(sys.executable)
        elif word.startswith(INSTALL_ROOT + "/"):
            out.append(str(root / word[len(INSTALL_ROOT) + 1:]))
        else:
            out.append(word)
    return tuple(out)


def timed_jobs(units_dir: Path = UNITS_DIR) -> dict[str, TimedJob]:
    """Every `<prefix><name>.timer` with its service, by name, in file order."""
    found: dict[str, TimedJob] = {}
    for timer_path in sorted(units_dir.glob(f"{UNIT_PREFIX}*.timer")):
        timer = read_unit(timer_path)
        unit = timer.get("Timer", {}).get("Unit", [timer_path.with_suffix(".service").name])[-1]
        service = read_unit(units_dir / unit)
        name = timer_path.stem[len(UNIT_PREFIX):]
        calendars = tuple(Calendar.parse(e) for e in timer.get("Timer", {}).get("OnCalendar", []) if e)
        exec_start = service.get("Service", {}).get("ExecStart", [""])[0]
        if not calendars or not exec_start:
            continue
        found[name] = TimedJob(
            name=name,
            description=service.get("Unit", {}).get("Description", [name])[0].removeprefix("Insta Connect: "),
            calendars=calendars,
            argv=local_argv(exec_start),
            persistent=timer.get("Timer", {}).get("Persistent", ["false"])[-1].lower() in ("true", "yes", "1", "on"),
        )
    return found
