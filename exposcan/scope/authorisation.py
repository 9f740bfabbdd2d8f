"""The ``[authorisation]`` of a scope: who allowed the scan, under what reference, until when.

``expires`` is an instant, not a day:

* an offset date-time (``expires = 2026-12-02T00:00:01Z`` or ``...+01:00``) is taken
  as written, to the microsecond, in its own offset;
* a bare date (``expires = 2026-12-31``) means the end of that day in UTC: the
  authorisation holds up to and including 2026-12-31T23:59:59.999999Z, that is until
  the next day starts in UTC (whatever the scanning machine's local zone);
* a local date-time (no offset) or a bare time is refused: which instant it names
  depends on the machine that reads it.

The authorisation holds while ``now <= expires_at``. It is checked when a scan is
prepared (before any name is resolved), when it starts, and again before every
endpoint is started (:mod:`exposcan.engine`): once it has passed, no new endpoint is
started, the ones in flight finish, and the summary says ``"stopped":
"authorisation-expired"``. The clock is injectable (:data:`Clock`) so that tests
need not wait for real time to pass.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from exposcan.errors import AuthorisationError
from exposcan.scope.messages import reject_unknown, show, type_name

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "Authorisation",
    "Clock",
    "expiry_warning",
    "parse_authorisation",
    "utc_now",
]

Clock = Callable[[], datetime.datetime]
"""Returns the current instant as an aware :class:`datetime.datetime`."""

AUTH_KEYS: Final = ("owner", "reference", "expires")
#: C0, DEL and C1 controls and the bidi controls (Unicode TR9): owner and reference are
#: shown in reports and on terminals, where these would move, hide or reorder text.
_CONTROL_RE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_END_OF_DAY: Final = datetime.time(23, 59, 59, 999999, tzinfo=datetime.UTC)
_EXAMPLE: Final = "expires = 2026-12-31 (the end of that day, UTC) or 2026-12-31T18:00:00Z"


def utc_now() -> datetime.datetime:
    """The default :data:`Clock`: the system's wall clock, in UTC."""
    return datetime.datetime.now(datetime.UTC)


def _is_aware(value: datetime.datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class Authorisation:
    """Who authorised the scan, under which reference, and until when.

    ``expires`` is what the scope file says: a :class:`datetime.date` or an aware
    :class:`datetime.datetime`; :attr:`expires_at` is the last instant it holds.
    """

    owner: str
    reference: str
    expires: datetime.date | datetime.datetime
    #: Where this came from, for error messages; not part of equality or the digest.
    source: str = field(default="<string>", compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.expires, datetime.datetime):
            if not _is_aware(self.expires):
                raise AuthorisationError(_naive_message(self.expires, self.source))
        elif not isinstance(self.expires, datetime.date):
            raise AuthorisationError(
                f"[authorisation] expires of scope file {self.source} must be a date or an "
                f"offset date-time, not {type_name(self.expires)} {show(self.expires)}"
            )

    @property
    def expires_at(self) -> datetime.datetime:
        """The last instant the authorisation holds (aware; a date's is 23:59:59.999999Z)."""
        if isinstance(self.expires, datetime.datetime):
            return self.expires
        return datetime.datetime.combine(self.expires, _END_OF_DAY)

    def expired(self, now: datetime.datetime | None = None) -> bool:
        """Whether ``now`` (default: the wall clock) is past :attr:`expires_at`."""
        return _instant(now) > self.expires_at

    def check(self, now: datetime.datetime | None = None) -> None:
        """Raise :class:`AuthorisationError` if the authorisation has expired at ``now``."""
        if self.expired(now):
            raise AuthorisationError(
                f"authorisation {self.reference} expired at {self.describe()} "
                f"(scope file {self.source})"
            )

    def expires_within(self, now: datetime.datetime | None = None, days: float = 14) -> bool:
        """Whether the authorisation still holds at ``now`` but not ``days`` later."""
        instant = _instant(now)
        return not self.expired(instant) and self.expires_at - instant <= datetime.timedelta(
            days=days
        )

    def describe(self) -> str:
        """The expiry for a message: the instant, and the date as written for a date."""
        at = self.expires_at.isoformat()
        if isinstance(self.expires, datetime.datetime):
            return at
        return f"{at} (the end of {self.expires.isoformat()}, UTC)"

    def to_dict(self) -> dict[str, Any]:
        """As written (a date stays a date), so that the scope digest follows the file."""
        return {
            "owner": self.owner,
            "reference": self.reference,
            "expires": self.expires.isoformat(),
        }


#: A scan started this close to its authorisation's expiry warns (a weekly job then warns
#: twice before the one that would be refused).
EXPIRY_WARNING_DAYS: Final = 14


def expiry_warning(
    authorisation: Authorisation,
    now: datetime.datetime | None = None,
    *,
    days: float = EXPIRY_WARNING_DAYS,
) -> str | None:
    """The one line to warn with when ``now`` is within ``days`` of the expiry, else None
    (an expired authorisation is refused, not warned about: :meth:`Authorisation.check`)."""
    instant = _instant(now)
    if not authorisation.expires_within(instant, days):
        return None
    left = authorisation.expires_at - instant
    if left >= datetime.timedelta(days=1):
        count, unit = left.days, "day"
    elif left >= datetime.timedelta(hours=1):
        count, unit = left.seconds // 3600, "hour"
    else:
        count, unit = 0, ""
    when = f"in {count} {unit}{'' if count == 1 else 's'}" if count else "within the hour"
    at = authorisation.expires_at.isoformat(timespec="seconds")
    return (
        f"authorisation {authorisation.reference} expires {when} ({at}): "
        "renew it before the next scheduled scan"
    )


def _instant(now: datetime.datetime | None) -> datetime.datetime:
    if now is None:
        return utc_now()
    if not isinstance(now, datetime.datetime) or not _is_aware(now):
        # A naive "now" would be compared in an unknown zone: a programming error.
        raise TypeError("now must be an aware datetime.datetime")
    return now


def _naive_message(value: object, source: str) -> str:
    return (
        f"[authorisation] expires of scope file {source} has no time zone: {show(value)} "
        f"names a different instant on every machine; write {_EXAMPLE}"
    )


def parse_authorisation(section: object, source: str) -> Authorisation:
    """The ``[authorisation]`` table of a parsed scope file. Raises :class:`AuthorisationError`."""
    if section is None:
        raise AuthorisationError(
            f"scope file {source} has no [authorisation] section: say who authorised the scan "
            "(owner), under which ticket or contract (reference) and until when (expires)"
        )
    if not isinstance(section, dict):
        raise AuthorisationError(
            f"scope file {source} has no [authorisation] section: 'authorisation' is "
            f"{type_name(section)}, not a table"
        )
    reject_unknown(section, AUTH_KEYS, "in [authorisation]", source)

    explain = {
        "owner": "say who authorised the scan",
        "reference": "name the ticket or contract that authorises the scan",
        "expires": f"say when the authorisation ends, e.g. {_EXAMPLE}",
    }
    for key in AUTH_KEYS:
        if key not in section:
            raise AuthorisationError(
                f"scope file {source} has no [authorisation] {key}: {explain[key]}"
            )
    texts = {key: _text(section, key, source, explain[key]) for key in ("owner", "reference")}
    return Authorisation(
        owner=texts["owner"],
        reference=texts["reference"],
        expires=_expires(section["expires"], source),
        source=source,
    )


def _text(section: Mapping[str, Any], key: str, source: str, explain: str) -> str:
    value = section[key]
    if not isinstance(value, str):
        raise AuthorisationError(
            f"[authorisation] {key} of scope file {source} must be a string, not {type_name(value)}"
        )
    if not value.strip():
        raise AuthorisationError(
            f"scope file {source} has no [authorisation] {key}: it is empty; {explain}"
        )
    if _CONTROL_RE.search(value):
        raise AuthorisationError(
            f"[authorisation] {key} of scope file {source} contains a control or bidi character: "
            f"{show(value)}"
        )
    return value.strip()


def _expires(value: object, source: str) -> datetime.date | datetime.datetime:
    if isinstance(value, datetime.datetime):
        if not _is_aware(value):
            raise AuthorisationError(_naive_message(value, source))
        return value
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, datetime.time):
        raise AuthorisationError(
            f"[authorisation] expires of scope file {source} is a time of day without a date: "
            f"{show(value)}; write {_EXAMPLE}"
        )
    hint = " (write it without quotes)" if isinstance(value, str) else ""
    raise AuthorisationError(
        f"[authorisation] expires of scope file {source} must be a TOML date like "
        f"2026-12-31 or an offset date-time like 2026-12-31T18:00:00Z, not "
        f"{type_name(value)} {show(value)}{hint}"
    )
