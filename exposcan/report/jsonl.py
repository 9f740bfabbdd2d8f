"""JSONL: one record a line, written, flushed and synced to disk as it is produced.

Lines: ``{"record": "scan"}`` first, one ``{"record": "endpoint"}`` per endpoint,
``{"record": "summary"}`` last (DESIGN.md, "Report"); a resumed scan appends a
``{"record": "resume"}`` line, its endpoints and a new summary.

Each line is flushed to the kernel at once, so ``kill -9`` loses no finished
endpoint. Against power loss each line is also fdatasync'ed, by a small
thread that syncs whenever new lines are waiting (group commit): one sync
covers every line written before it, and the event loop never blocks on the
disk. The first and last records are synced before the writer returns.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from typing import IO, Any

from exposcan.report.safe_json import dumps
from exposcan.results import EndpointResult
from exposcan.summary import Summary


class _Syncer:
    """fdatasync a file descriptor whenever asked, coalescing requests."""

    def __init__(self, fileno: int) -> None:
        self._fileno = fileno
        self._wanted = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="exposcan-fsync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            with contextlib.suppress(OSError):
                os.fdatasync(self._fileno)
            if self._stop:
                return

    def sync_now(self) -> None:
        with contextlib.suppress(OSError):
            os.fdatasync(self._fileno)

    def close(self) -> None:
        self._stop = True
        self._wanted.set()
        self._thread.join(timeout=5)


class JsonlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        # Syncing only makes sense for a file on disk, not a pipe or a terminal.
        self._syncer: _Syncer | None = None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fileno = stream.fileno()
            if stat.S_ISREG(os.fstat(fileno).st_mode):
                self._syncer = _Syncer(fileno)

    def _write(self, record: dict[str, Any], *, sync_now: bool = False) -> None:
        self._stream.write(dumps(record) + "\n")
        self._stream.flush()
        if self._syncer is not None:
            if sync_now:
                self._syncer.sync_now()
            else:
                self._syncer.request()

    def start(self, header: dict[str, Any]) -> None:
        self._write(header, sync_now=True)

    def endpoint(self, result: EndpointResult) -> None:
        self._write({"record": "endpoint", **result.to_dict()})

    def finish(self, summary: Summary) -> None:
        self._write({"record": "summary", **summary.to_dict()}, sync_now=True)
        if self._syncer is not None:
            self._syncer.close()
            self._syncer = None


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Records of a JSONL report; a torn last line (a killed writer) is skipped.

    The rule of :mod:`exposcan.report.lines` (the one ``--resume`` reads by): an
    unterminated last line is torn; any other line that is not a JSON object
    raises :class:`~exposcan.report.lines.BadRecord` (a ValueError) naming it.
    """
    from exposcan.report.lines import whole_lines

    with open(path, "rb") as stream:
        for line in whole_lines(stream):
            yield line.record
