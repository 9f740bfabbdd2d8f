"""Scan ids: a UUID per scan, in the report's header, on every JSONL line and in SARIF.

Here rather than in :mod:`exposcan.scan`, which imports the engine: reading, converting
and diffing reports send nothing and load none of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["new_scan_id", "scan_id_of"]


def new_scan_id() -> str:
    return str(uuid.uuid4())


def scan_id_of(record: Mapping[str, Any]) -> str | None:
    """The scan id a report's record holds, if it is one (a file is input: a UUID only)."""
    value = record.get("scan_id")
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
