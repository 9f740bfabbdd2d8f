"""Text a peer chose, made safe once, where it enters a result.

A peer picks its implementation class UID and version name, its certificate's subject
and issuer, its ``Server`` header, the product name and version its web API reports.
Any of them may carry terminal escapes (ESC, BEL, CR, the C1 range: window titles,
screen clears, fake lines), bidi overrides that make a report read differently from what
it holds (U+202A-U+202E, U+2066-U+2069), invisible format characters (zero-width
spaces, U+FEFF), line and paragraph separators, or be long enough to drown a report.

:func:`clean` is the one function that makes such text safe: the result dataclasses
(:mod:`exposcan.results`) and the web probe's records pass every text field through it
on construction, so no path from a peer into a report can skip it. It keeps what
``str.isprintable`` calls printable (letters, digits, punctuation, symbols and the ASCII
space, in any script), turns other whitespace into a space, drops everything else
(Unicode categories Cc, Cf, Cs, Co, Cn, Zl, Zp), folds runs of spaces, strips the ends
and bounds the length. It is idempotent, and printable text within the bound comes back
as it went in.

Each report format still escapes at its own edge (CSV formula neutralisation, JSON
escapes for C1 and bidi, HTML escaping, the terminal view's strip): defence in depth.

Versions are facts, not text: :func:`version` keeps a value only when it looks like a
version in ASCII (:data:`VERSION`; a web API's :data:`PRODUCT_VERSION` starts with a
digit); any other value is dropped, never shown.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "PRODUCT_VERSION",
    "TEXT_LIMIT",
    "UID",
    "VERSION",
    "clean",
    "clean_optional",
    "uid",
    "version",
]

#: Default bound, in code points, for one text field of a result.
TEXT_LIMIT: Final = 256
#: What a version may look like in a report: ASCII letters and digits first, then
#: letters, digits and ``._+-``; 32 characters at most (``\w`` would admit any script).
#: Letters may lead because DICOM version names carry versions such as ``VE11C``.
VERSION: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,31}")
#: A version a web API reports about its product (Orthanc's ``/system``, a plugin's,
#: Dicoogle's): a digit first, so that a word (a name, a marker) is not taken for one.
PRODUCT_VERSION: Final = re.compile(r"[0-9][0-9A-Za-z._+-]{0,31}")
#: A UID as PS3.5 §9.1 lays it out (digits and dots, at most 64 characters); leading
#: zeros in a component are tolerated, as devices send them.
UID: Final = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_UID_LIMIT: Final = 64
_SPACES: Final = re.compile(r" {2,}")


def clean(value: str, limit: int = TEXT_LIMIT) -> str:
    """``value`` with only printable characters, single spaces, no outer spaces, and at
    most ``limit`` code points. Idempotent: ``clean(clean(v)) == clean(v)``."""
    if (
        len(value) <= limit
        and value.isprintable()
        and "  " not in value
        and not value.startswith(" ")
        and not value.endswith(" ")
    ):
        return value  # the common case: already clean, no copy
    kept = "".join(
        ch if ch.isprintable() else " " for ch in value if ch.isprintable() or ch.isspace()
    )
    kept = _SPACES.sub(" ", kept).strip(" ")
    return kept[:limit].rstrip(" ")


def clean_optional(value: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """:func:`clean` for an optional field; nothing left is ``None``."""
    if value is None:
        return None
    return clean(str(value), limit) or None


def version(value: object, *, product: bool = False) -> str | None:
    """``value`` if it is a version as :data:`VERSION` (``product``: as
    :data:`PRODUCT_VERSION`) describes, else ``None``."""
    pattern = PRODUCT_VERSION if product else VERSION
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    return None


def uid(value: object) -> str | None:
    """``value`` if it is a UID (:data:`UID`, at most 64 characters), else ``None``."""
    if isinstance(value, str) and len(value) <= _UID_LIMIT and UID.fullmatch(value):
        return value
    return None
