"""JSONL: one record a line, written, flushed and synced to disk as it is produced.

Lines: ``{"record": "scan"}`` first, one ``{"record": "endpoint"}`` per endpoint,
``{"record": "summary"}`` last (DESIGN.md, "Report"); a resumed scan appends a
``{"record": "resume"}`` line, its endpoints and a new summary. An
``{"record": "evidence"}`` line (:class:`~exposcan.probe.HostEvidence`: a web API
naming its host's DICOM port and product) comes before the endpoint that learnt it.

Each line is flushed to the kernel at once, so ``kill -9`` loses no finished
endpoint. Against power loss each line is also fdatasync'ed, by a small
thread that syncs whenever new lines are waiting (group commit): one sync
covers every line written before it, and the event loop never blocks on the
disk. The first and last records are synced before the writer returns (or
``SYNC_WAIT_S`` has passed). A failed sync or write raises OSError from the
writer's next call, never from the thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from exposcan.errors import ReportError
from exposcan.report.safe_json import dumps
from exposcan.results import EndpointResult
from exposcan.summary import Summary

if TYPE_CHECKING:
    from exposcan.probe import HostEvidence

#: fdatasync errors that mean "this file cannot be synced", not "the data is lost".
_SYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.EROFS, errno.ENOTSUP, errno.EOPNOTSUPP})
#: The longest a write waits for its sync: a disk that does not answer must not
#: hold the scan, or its end after SIGINT, for ever. The lines are with the kernel
#: already (kill -9 loses nothing); the thread goes on syncing them.
SYNC_WAIT_S = 0.5


class _Syncer:
    """fdatasync a file descriptor whenever asked, coalescing requests.

    Only this thread syncs. A failed sync (EIO, ENOSPC: the data may not reach
    the disk) is kept in :attr:`error` for the writer to raise on its next line.
    """

    def __init__(self, fileno: int) -> None:
        self._fileno = fileno
        self._cond = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._stop = False
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="exposcan-fsync", daemon=True)
        self._thread.start()

    def request(self) -> int:
        with self._cond:
            self._requested += 1
            self._cond.notify_all()
            return self._requested

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._completed == self._requested and not self._stop:
                    self._cond.wait()
                if self._completed == self._requested:  # stopped, nothing left to sync
                    return
                target = self._requested
            try:
                os.fdatasync(self._fileno)
            except OSError as exc:
                if exc.errno not in _SYNC_UNSUPPORTED and self.error is None:
                    self.error = exc
            with self._cond:
                self._completed = target
                self._cond.notify_all()

    def sync_now(self) -> None:
        """Sync every line written so far; waits :data:`SYNC_WAIT_S` at most."""
        wanted = self.request()
        with self._cond:
            self._cond.wait_for(lambda: self._completed >= wanted, timeout=SYNC_WAIT_S)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=0.25)  # a sync still running goes on in its daemon thread


class JsonlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._stamp: dict[str, Any] = {}
        # Syncing only makes sense for a file on disk, not a pipe or a terminal.
        self._syncer: _Syncer | None = None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fileno = stream.fileno()
            if stat.S_ISREG(os.fstat(fileno).st_mode):
                self._syncer = _Syncer(fileno)

    def _write(self, record: dict[str, Any], *, sync_now: bool = False) -> None:
        self._stream.write(dumps({**record, **self._stamp}) + "\n")
        self._stream.flush()
        if self._syncer is not None:
            if sync_now:
                self._syncer.sync_now()
            else:
                self._syncer.request()
            if self._syncer.error is not None:
                raise self._syncer.error

    def start(self, header: dict[str, Any]) -> None:
        """The scan (or resume) record; its ``scan_id`` and ``site`` go on every later line,
        so a line cut out of the report (grep, a SIEM) still says which scan and site."""
        self._write(header, sync_now=True)
        self._stamp = {
            key: header[key] for key in ("scan_id", "site") if header.get(key) is not None
        }

    def endpoint(self, result: EndpointResult) -> None:
        self._write({"record": "endpoint", **result.to_dict()})

    def evidence(self, record: HostEvidence) -> None:
        """Written before the record of the endpoint that learnt it, so a report cut
        after that endpoint still holds it (``--resume`` hands it to the engine)."""
        self._write(record.to_dict())

    def finish(self, summary: Summary) -> None:
        try:
            self._write({"record": "summary", **summary.to_dict()}, sync_now=True)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the sync thread (also when the report is abandoned half-way)."""
        if self._syncer is not None:
            self._syncer.close()
            self._syncer = None


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Records of a JSONL report, as dicts; a torn last line (a killed writer) is skipped.

    Read by the package's one report reader (:func:`exposcan.report.lines.read_lines`,
    as ``--resume`` and :func:`exposcan.read_report` read): an unterminated last line is
    torn; a file that is not a regular file, or any other line that is not a JSON object,
    is one :class:`~exposcan.errors.ReportError` naming it. For typed results, use
    :func:`exposcan.read_report`.
    """
    from exposcan.report.lines import UnreadableReport, read_lines

    try:
        with contextlib.closing(read_lines(path)) as lines:
            for line in lines:
                yield line.record
    except UnreadableReport as exc:
        raise ReportError(exc.sentence("cannot read report")) from None
