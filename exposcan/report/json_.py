"""JSON: one document ``{"scan": ..., "endpoints": [...], "summary": ...}`` at the end."""

from __future__ import annotations

import json
from typing import IO, Any

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
        json.dump(document, self._stream, indent=2, ensure_ascii=False)
        self._stream.write("\n")
        self._stream.flush()
