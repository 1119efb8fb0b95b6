"""systemd's OnCalendar= expressions (systemd.time(7)), enough to run the timers of deployment/ locally.

`Calendar.parse("*-*-* 02:00:00 UTC").next_after(now)` is the next elapse, as `systemd-analyze calendar`
prints it. Supported: weekdays (`Mon`, `Mon..Fri`, lists), `Y-M-D` / `M-D` dates, `H:M[:S]` times, each
component `*`, a number, a list `a,b`, a range `a..b` and a repetition `a/step` or `*/step`, an optional
time zone (`UTC` or an IANA name; none: local time), and the shorthands (`minutely`, `hourly`, `daily`,
`weekly`, `monthly`, `yearly`, `quarterly`, `semiannually`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    """An OnCalendar= expression this parser does not understand."""


def _values(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> frozenset[int]:
    """The numbers a component stands for: `*`, `5`, `1,15`, `1..5`, `0/30`, `*/2`, `Mon..Fri`."""

    def number(part: str) -> int:
        key = part.lower()[:3]
        if names and key in names:
            return names.index(key)
        try:
            return int(part)
        except ValueError:
            raise CalendarError(f"{part!r} is not a number") from None

    found: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, _, raw_step = part.partition("/")
            step = number(raw_step)
            if step < 1:
                raise CalendarError(f"repetition {raw_step!r} must be at least 1")
            if ".." in part:
                a, _, b = part.partition("..")
                start, end = number(a), number(b)
            else:
                start, end = (low if part == "*" else number(part)), high
        elif part == "*":
            start, end = low, high
        elif ".." in part:
            a, _, b = part.partition("..")
            start, end = number(a), number(b)
        else:
            start = end = number(part)
        if not (low <= start <= high and low <= end <= high):
            raise CalendarError(f"{text!r} is outside {low}..{high}")
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _zone(token: str) -> tzinfo | None:
    if token.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    if "/" in token:
        try:
            return ZoneInfo(token)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None


@dataclass(frozen=True)
class Calendar:
    expression: str
    weekdays: frozenset[int]
    years: frozenset[int]
    months: frozenset[int]
    days: frozenset[int]
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]
    zone: tzinfo | None   # None: the machine's local time

    @classmethod
    def parse(cls, expression: str) -> "Calendar":
        text = " ".join(expression.split())
        text = SHORTHANDS.get(text.lower(), text)
        tokens = text.split(" ")
        zone = None
        if len(tokens) > 1 and (found := _zone(tokens[-1])) is not None:
            zone = found
            tokens.pop()
        weekdays = frozenset(range(7))
        if tokens and tokens[0][:1].isalpha():
            weekdays = _values(tokens.pop(0), 0, 6, WEEKDAYS)
        date_part, time_part = "*-*-*", "00:00:00"
        for token in tokens:
            if ":" in token:
                time_part = token
            elif "-" in token:
                date_part = token
            else:
                raise CalendarError(f"cannot read {token!r} in {expression!r}")
        if len(tokens) > 2:
            raise CalendarError(f"cannot read {expression!r}")
        date_fields = date_part.split("-")
        if len(date_fields) == 2:
            date_fields.insert(0, "*")
        if len(date_fields) != 3:
            raise CalendarError(f"cannot read the date {date_part!r}")
        time_fields = time_part.split(":")
        if len(time_fields) == 2:
            time_fields.append("00")
        if len(time_fields) != 3:
            raise CalendarError(f"cannot read the time {time_part!r}")
        seconds = time_fields[2].split(".")[0]
        return cls(expression, weekdays,
                   _values(date_fields[0], 1970, 2199), _values(date_fields[1], 1, 12), _values(date_fields[2], 1, 31),
                   tuple(sorted(_values(time_fields[0], 0, 23))), tuple(sorted(_values(time_fields[1], 0, 59))),
                   tuple(sorted(_values(seconds, 0, 59))), zone)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first elapse strictly after `moment` (an aware datetime), in this calendar's zone; None if never."""
        zone = self.zone or datetime.now().astimezone().tzinfo
        local = moment.astimezone(zone)
        day = local.date()
        for _ in range(366 * 8):
            if (day.year in self.years and day.month in self.months and day.day in self.days
                    and day.weekday() in self.weekdays):
                found = self._first_time(day, local, zone)
                if found is not None:
                    return found
            day += timedelta(days=1)
            if day.year > max(self.years):
                return None
        return None

    def _first_time(self, day: date, after: datetime, zone: tzinfo) -> datetime | None:
        for hour in self.hours:
            for minute in self.minutes:
                for second in self.seconds:
                    candidate = datetime.combine(day, time(hour, minute, second), zone)
                    if candidate > after:
                        return candidate
        return None
