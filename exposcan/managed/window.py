"""``--window HH:MM-HH:MM``: when a schedule may run, in UTC. A window whose end is before
its start crosses midnight (``22:00-06:00``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from exposcan.errors import OptionError

_FORM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Window:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def seconds_left(self, now: datetime) -> float | None:
        """Seconds from ``now`` (aware, UTC) to this window's end, None outside it."""
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for offset in (-1, 0):  # a window that began yesterday may still be open
            opens = day + timedelta(days=offset, hours=self.start.hour, minutes=self.start.minute)
            closes = day + timedelta(days=offset, hours=self.end.hour, minutes=self.end.minute)
            if closes <= opens:
                closes += timedelta(days=1)
            if opens <= now < closes:
                return (closes - now).total_seconds()
        return None


def parse_window(text: str) -> Window:
    found = _FORM.fullmatch(text.strip())
    if found is None:
        raise OptionError(f"--window {text[:40]!r}: HH:MM-HH:MM in UTC, e.g. 22:00-06:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if (h1, m1) == (h2, m2):
        raise OptionError(f"--window {text[:40]!r} is empty: its start is its end")
    return Window(time(h1, m1), time(h2, m2))
