"""One-line messages about values a user wrote (scope files, targets, options)."""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from exposcan.errors import ScopeError

__all__ = ["reject_unknown", "show", "type_name"]


def show(value: object, limit: int = 80) -> str:
    """A short, one-line repr of a user-supplied value for an error message."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def type_name(value: object) -> str:
    """What a TOML value is, in words: ``a date-time``, ``a list``..."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
        datetime.date: "a date",
        datetime.datetime: "a date-time",
        datetime.time: "a time",
    }
    return names.get(type(value), type(value).__name__)


def reject_unknown(table: Mapping[str, Any], known: Sequence[str], where: str, source: str) -> None:
    """Refuse keys a scope file table must not hold, suggesting the likely one."""
    unknown = sorted(key for key in table if key not in known)
    if not unknown:
        return
    names = ", ".join(repr(key) for key in unknown)
    plural = "s" if len(unknown) > 1 else ""
    hint = ""
    suggestion = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.6)
    if suggestion:
        hint = f"; did you mean {suggestion[0]!r}?"
    expected = ", ".join(known)
    raise ScopeError(
        f"unknown key{plural} {names} {where} of scope file {source} (expected: {expected}{hint})"
    )
