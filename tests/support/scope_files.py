"""Scope files for tests: :func:`scope_text`, :func:`scope_file` (DICOM and web ports)
and the fixture ``write_scope``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.raw_http import HOST


def scope_text(
    include: list[str],
    ports: list[int],
    *,
    exclude: list[str] | None = None,
    expires: date | None = None,
) -> str:
    expires = expires or date.today() + timedelta(days=30)
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


def scope_file(tmp_path: Path, ports: list[int], web_ports: list[int]) -> Path:
    """A scope of the raw HTTP peers' host with DICOM ``ports`` and ``web_ports``."""
    path = tmp_path / "scope.toml"
    path.write_text(
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        'reference = "TEST-INJECTION"\n'
        f"expires = {(date.today() + timedelta(days=30)).isoformat()}\n"
        "[scope]\n"
        f'include = ["{HOST}"]\n'
        f"ports = {ports}\n"
        f"web_ports = {web_ports}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def write_scope(tmp_path: Path) -> Callable[..., Path]:
    def write(include: list[str], ports: list[int], **kwargs: Any) -> Path:
        path = tmp_path / "scope.toml"
        path.write_text(scope_text(include, ports, **kwargs), encoding="utf-8")
        return path

    return write
