"""What one request came back with: an :class:`Answer` or a :class:`Failure`, and readings of it.

An answer is held only while the probe interprets it (its body is dropped with it); a
failure is a :class:`~exposcan.vocabulary.Status` and a detail that never holds peer data.
Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from exposcan.vocabulary import Status

__all__ = [
    "LOGIN",
    "MARKER_WINDOW",
    "Answer",
    "EndpointEnded",
    "Failure",
    "is_login_redirect",
    "json_of",
    "printable",
]

#: Viewer and error-page markers are looked for in the first bytes only.
MARKER_WINDOW: Final = 64 * 1024
LOGIN: Final = re.compile(
    r"log-?in|sign-?in|/sso\b|oauth|openid|saml|/auth(?:/|$|\?)|/realms/|/cas/|keycloak",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Answer:
    """One response, held only while the probe interprets it."""

    status: int
    content_type: str
    location: str | None
    challenges: tuple[str, ...]
    server: str | None
    body: bytes
    truncated: bool
    digest: bytes


@dataclass(frozen=True, slots=True)
class Failure:
    """A request that got no answer, as a status (see :func:`~.failures.failure_of`)."""

    status: Status
    detail: str
    wrong_scheme: bool = False
    client_certificate_required: bool = False
    not_tls: bool = False


class EndpointEnded(Exception):
    """Internal: the endpoint has stopped answering (or never answered on either scheme);
    the plan ends here, and the observation is made of what was seen."""


def json_of(answer: Answer | None) -> Any:
    """The body as JSON, or None (HTML shells, truncated bodies, garbage)."""
    if answer is None or answer.truncated or answer.status != 200:
        return None
    if answer.content_type.startswith("text/html"):
        return None
    try:
        return json.loads(answer.body)
    except (ValueError, RecursionError):
        return None


def is_login_redirect(answer: Answer) -> bool:
    return (
        answer.status in (301, 302, 303, 307, 308)
        and answer.location is not None
        and LOGIN.search(answer.location) is not None
    )


def printable(value: str | None, limit: int = 64) -> str | None:
    if not value:
        return None
    kept = "".join(ch for ch in value if " " <= ch <= "~").strip()
    return kept[:limit] or None
