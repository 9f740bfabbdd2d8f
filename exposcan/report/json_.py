"""JSON: one document ``{"scan": ..., "endpoints": [...], "summary": ...}`` at the end."""

from __future__ import annotations

from typing import IO, Any

from exposcan.report.safe_json import dumps
from exposcan.results import EndpointResult
from exposcan.summary import Summary


class JsonWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._header: dict[str, Any] = {}
        self._endpoints: list[dict[str, Any]] = []

    def start(self, header: dict[str, Any]) -> None:
        self._header = header

    def endpoint(self, result: EndpointResult) -> None:
        self._endpoints.append(result.to_dict())

    def finish(self, summary: Summary) -> None:
        document = {
            "scan": self._header,
            "endpoints": self._endpoints,
            "summary": summary.to_dict(),
        }
        self._stream.write(dumps(document, indent=2) + "\n")
        self._stream.flush()
