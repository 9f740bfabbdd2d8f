"""Scope files for tests: :func:`scope_text` and the fixture ``write_scope``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest


def scope_text(
    include: list[str],
    ports: list[int],
    *,
    exclude: list[str] | None = None,
    expires: date | None = None,
) -> str:
    expires = expires or date.today() + timedelta(days=7)
    return (
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        'reference = "TEST-1"\n'
        f"expires = {expires.isoformat()}\n"
        "[scope]\n"
        f"include = {include!r}\n".replace("'", '"')
        + f"exclude = {exclude or []!r}\n".replace("'", '"')
        + f"ports = {ports!r}\n"
    )


@pytest.fixture
def write_scope(tmp_path: Path) -> Callable[..., Path]:
    def write(include: list[str], ports: list[int], **kwargs: Any) -> Path:
        path = tmp_path / "scope.toml"
        path.write_text(scope_text(include, ports, **kwargs), encoding="utf-8")
        return path

    return write
