"""JSONL: one record a line, written and flushed as it is produced.

Lines: ``{"record": "scan"}`` first, one ``{"record": "endpoint"}`` per endpoint,
``{"record": "summary"}`` last (DESIGN.md, "Report"). Each line is flushed at
once, so a killed process loses no finished endpoint; files are also fsynced
at most every second and at the end, against power loss.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Iterator
from typing import IO, Any

from exposcan.results import EndpointResult
from exposcan.summary import Summary

FSYNC_INTERVAL_S = 1.0


class JsonlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._last_sync = time.monotonic()
        # fsync only makes sense for a file on disk, not a pipe or a terminal.
        self._fileno: int | None = None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fileno = stream.fileno()
            if stat.S_ISREG(os.fstat(fileno).st_mode):
                self._fileno = fileno

    def _write(self, record: dict[str, Any], *, sync: bool = False) -> None:
        self._stream.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        self._stream.flush()
        if self._fileno is not None and (
            sync or time.monotonic() - self._last_sync >= FSYNC_INTERVAL_S
        ):
            with contextlib.suppress(OSError):
                os.fsync(self._fileno)
            self._last_sync = time.monotonic()

    def start(self, header: dict[str, Any]) -> None:
        self._write(header, sync=True)

    def endpoint(self, result: EndpointResult) -> None:
        self._write({"record": "endpoint", **result.to_dict()})

    def finish(self, summary: Summary) -> None:
        self._write({"record": "summary", **summary.to_dict()}, sync=True)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Records of a JSONL report; a torn last line (a killed writer) is skipped."""
    with open(path, encoding="utf-8") as stream:
        lines = stream.read().split("\n")
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) - 1:  # only an unterminated last line may be torn
                return
            raise
