"""What every report format implements, and opening where it goes."""

from __future__ import annotations

import os
import sys
from typing import IO, Any, Protocol

from exposcan.errors import OutputError
from exposcan.results import EndpointResult
from exposcan.summary import Summary


class ReportWriter(Protocol):
    def start(self, header: dict[str, Any]) -> None: ...
    def endpoint(self, result: EndpointResult) -> None: ...
    def finish(self, summary: Summary) -> None: ...


def open_output(path: str | os.PathLike[str] | None) -> IO[str]:
    """The report's stream: a new file (checked before any packet is sent) or stdout."""
    if path is None or str(path) == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write report to {os.fspath(path)}: {exc.strerror}") from None
