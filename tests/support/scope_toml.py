"""Scope files field by field, for the parsing tests: every [authorisation] and [scope]
key settable (``scope_files.scope_text`` is the short form for tests that scan), and the
one-line check every user error must pass."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

from exposcan.scope import Scope, parse_scope

FAR_FUTURE = datetime.date(2999, 12, 31)


def toml_list(values: Sequence[object]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def scope_text(
    include: Sequence[str] = ("10.20.0.0/16",),
    exclude: Sequence[str] | None = None,
    *,
    ports: Sequence[int] | None = None,
    web_ports: Sequence[int] | None = None,
    expires: str = "2999-12-31",
    owner: str = "Example Hospital IT Security",
    reference: str = "CHG-2026-0042",
) -> str:
    lines = [
        "[authorisation]",
        f"owner = {json.dumps(owner)}",
        f"reference = {json.dumps(reference)}",
        f"expires = {expires}",
        "",
        "[scope]",
        f"include = {toml_list(include)}",
    ]
    if exclude is not None:
        lines.append(f"exclude = {toml_list(exclude)}")
    if ports is not None:
        lines.append(f"ports = {toml_list(ports)}")
    if web_ports is not None:
        lines.append(f"web_ports = {toml_list(web_ports)}")
    return "\n".join(lines) + "\n"


def make_scope(
    include: Sequence[str] = ("10.20.0.0/16",),
    exclude: Sequence[str] = (),
    *,
    source: str = "scope.toml",
) -> Scope:
    return parse_scope(scope_text(include, exclude), source=source)


def assert_one_line(exc: BaseException) -> str:
    """A user error is one line of text, never a traceback."""
    message = str(exc)
    assert message
    assert "\n" not in message
    assert "Traceback" not in message
    return message
