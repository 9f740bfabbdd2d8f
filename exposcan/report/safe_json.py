"""The one JSON encoder of the reports (JSON, JSONL, SARIF): readable, and safe on a terminal.

``json.dumps(..., ensure_ascii=False)`` keeps non-ASCII text readable but writes DEL, the
C1 controls (U+0080-U+009F), bidi overrides and isolates, line and paragraph separators
(U+2028/U+2029: line breaks to JavaScript and some viewers), zero-width and other format
characters raw, and a lone surrogate would make the write itself fail. Result text is
cleaned when a result is built (:mod:`exposcan.peertext`); this escapes every character
that is not printable once more (``\\uXXXX``), so a report piped to ``cat``, ``less -R``
or a log viewer cannot be turned against the reader even by text that reached a header
or a summary some other way. JSON never holds such a character outside a string, so the
escape is always valid JSON and reads back as the same value.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["dumps"]

#: Candidates: DEL and everything beyond ASCII (json.dumps escapes C0 itself).
_CANDIDATE: Final = re.compile(r"[\x7f-\U0010ffff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    code = ord(char)
    if code > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair (RFC 8259 §7)
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON: compact without ``indent``; no raw non-printable character."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    return _CANDIDATE.sub(_escape, text)
