"""Words and numbers as the HTML report prints them, and the header read defensively.

A report's header is the file's first record as it stands (:func:`exposcan.read_report`
keeps it as written): any of its values may be missing, of another type, or hostile
text. The readers here return a string or nothing, never raise; the template escapes
whatever they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from exposcan import peertext

#: How many items of a list from the header (include ranges, ports) the page names.
LIST_SHOWN: Final = 40


def text(record: Mapping[str, Any] | None, key: str, limit: int = 256) -> str | None:
    """``record[key]`` as clean text if it is a string or a number, else ``None``."""
    if not isinstance(record, Mapping):
        return None
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return peertext.clean_optional(str(value), limit)


def texts(record: Mapping[str, Any] | None, key: str) -> tuple[list[str], int]:
    """The first :data:`LIST_SHOWN` strings or numbers of the list ``record[key]``, and
    how many more it holds."""
    if not isinstance(record, Mapping):
        return [], 0
    values = record.get(key)
    if not isinstance(values, list | tuple):
        return [], 0
    kept = [
        peertext.clean(str(v), 128)
        for v in values
        if isinstance(v, str | int) and not isinstance(v, bool)
    ]
    kept = [v for v in kept if v]
    return kept[:LIST_SHOWN], max(0, len(kept) - LIST_SHOWN)


def mapping(record: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    if not isinstance(record, Mapping):
        return None
    value = record.get(key)
    return value if isinstance(value, Mapping) else None


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when(value: str | None) -> str | None:
    """``2 Dec 2026, 15:04 UTC`` for an ISO instant; other text as it is."""
    moment = _instant(value)
    if moment is None:
        return value or None
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def until(value: str | None) -> str | None:
    """An authorisation's expiry: a date when it is the end of a day (as a scope file's
    ``expires`` date is), else the instant."""
    moment = _instant(value)
    if moment is None:
        return value or None
    if (moment.hour, moment.minute, moment.second) == (23, 59, 59):
        return f"{moment.day} {moment:%b %Y} (end of day, UTC)"
    return when(value)


def day(value: str | None) -> str | None:
    """An ISO date as ``31 Dec 2026``; other text as it is."""
    moment = _instant(value)
    if moment is None:
        return value or None
    return f"{moment.day} {moment:%b %Y}"


def duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def count(n: int, one: str, many: str | None = None) -> str:
    """``1 endpoint``, ``2,048 endpoints``."""
    word = one if n == 1 else (many or f"{one}s")
    return f"{n:,} {word}"


def verb(n: int, one: str, many: str) -> str:
    """The verb that agrees with ``n`` (``answers`` / ``answer``)."""
    return one if n == 1 else many


def endpoint_name(host: str, port: int) -> str:
    """``10.0.0.5:104``; ``[::1]:104`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
