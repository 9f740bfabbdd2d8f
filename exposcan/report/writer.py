"""What every report format implements, where the report goes, and what a failed write does.

Where it goes (:func:`open_output`): stdout; a character device such as
``/dev/null`` (a dry run); a JSONL file, written as the scan runs (the source of
truth: every finished endpoint is on disk at once, and ``--resume`` appends);
or, for a whole-document format (JSON, SARIF, HTML, CSV), a new version of the
file beside it, renamed over it only when whole (:class:`~exposcan.files.ReplacingFile`),
so an interrupted or killed run never destroys an earlier report at that path.

A write that fails (disk full, EIO, a reader that went away) must not raise in
the middle of the scan: :class:`GuardedWriter` keeps the error and tells its
caller, which stops the scan the way SIGINT does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

from exposcan.errors import OutputError
from exposcan.files import FileIdentity, FileProblem, ReplacingFile, open_writable, show_path
from exposcan.results import EndpointResult
from exposcan.summary import Summary

if TYPE_CHECKING:
    from exposcan.probe import HostEvidence


class ReportWriter(Protocol):
    def start(self, header: dict[str, Any]) -> None: ...
    def endpoint(self, result: EndpointResult) -> None: ...
    def finish(self, summary: Summary) -> None: ...


@runtime_checkable
class EvidenceWriter(Protocol):
    """A format that keeps host evidence (JSONL: ``--resume`` reads it back); the
    others have no use for it and do not implement it."""

    def evidence(self, record: HostEvidence) -> None: ...


class ReportOutput:
    """An opened report destination: its text stream and how it is completed."""

    def __init__(
        self, stream: IO[str], name: str, *, replacing: ReplacingFile | None = None
    ) -> None:
        self.stream = stream
        #: how messages name it: the path as given, or "stdout"
        self.name = name
        self._replacing = replacing

    @property
    def is_stdout(self) -> bool:
        return self.stream is sys.stdout

    def commit(self) -> None:
        """The report is whole: flush it (and put a new version in place)."""
        if self._replacing is not None:
            self._replacing.commit()
        else:
            self.stream.flush()

    def close(self) -> None:
        """Release the file; a new version that was not committed is removed."""
        if self._replacing is not None:
            self._replacing.discard()
        elif not self.is_stdout:
            with contextlib.suppress(OSError):
                self.stream.close()


def open_output(
    path: str | os.PathLike[str] | None,
    *,
    resume_at: int | None = None,
    whole_document: bool = False,
    protect: Mapping[FileIdentity, str] | None = None,
) -> ReportOutput:
    """The report's destination, checked before any packet is sent.

    With ``resume_at`` the file is kept up to that many bytes (whole lines; a
    line torn by a killed writer is cut) and appended to. ``whole_document``
    writes a new version beside the file and renames it into place on commit.
    ``protect``: files a report must never overwrite (the scan's inputs).
    """
    if path is None or os.fspath(path) == "-":
        if sys.stdout is None:  # started with fd 1 closed
            raise OutputError("cannot write report to stdout: it is closed")
        return ReportOutput(sys.stdout, "stdout")
    shown = show_path(path)
    try:
        if whole_document and not _is_device(path):
            replacing = ReplacingFile(path, protect=protect)
            return ReportOutput(replacing.stream, shown, replacing=replacing)
        fd, info = open_writable(path, protect=protect)
    except FileProblem as exc:
        raise OutputError(f"cannot write report to {shown}: {exc}") from None
    try:
        if stat.S_ISREG(info.st_mode):
            _lock(fd, shown)
            os.ftruncate(fd, resume_at or 0)
            os.lseek(fd, resume_at or 0, os.SEEK_SET)
        elif resume_at is not None:
            raise OutputError(f"cannot resume {shown}: it is not a regular file")
        return ReportOutput(open(fd, "w", encoding="utf-8"), shown)
    except OSError as exc:
        os.close(fd)
        raise OutputError(f"cannot write report to {shown}: {exc.strerror}") from None
    except BaseException:
        os.close(fd)
        raise


def _lock(fd: int, shown: str) -> None:
    """One writer per JSONL report: two scans (or a scan and its --resume) appending to
    one file would interleave their lines. The lock goes with the process, even kill -9."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputError(
            f"cannot write report to {shown}: another exposcan is writing it now"
        ) from None
    except OSError:  # a file system without locks
        pass


def _is_device(path: str | os.PathLike[str]) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


class GuardedWriter:
    """A format's writer whose failed writes stop the scan instead of raising inside it.

    The first OSError is kept in :attr:`error`; one raised while the scan runs
    (``start``, ``endpoint``) is also passed to ``on_error`` (the CLI cancels the
    scan, as SIGINT does, so in-flight associations end politely). Every later
    call does nothing. ``finish`` commits the output once the format has written
    its last byte; it never calls ``on_error``: the scan is over by then.
    """

    def __init__(
        self,
        inner: ReportWriter,
        output: ReportOutput,
        on_error: Callable[[OSError], None],
    ) -> None:
        self._inner = inner
        self._output = output
        self._on_error = on_error
        self.error: OSError | None = None

    def start(self, header: dict[str, Any]) -> None:
        self._call(self._inner.start, header)

    def endpoint(self, result: EndpointResult) -> None:
        self._call(self._inner.endpoint, result)

    def evidence(self, record: HostEvidence) -> None:
        if isinstance(self._inner, EvidenceWriter):
            self._call(self._inner.evidence, record)

    def finish(self, summary: Summary) -> None:
        self._call(self._inner.finish, summary, stop=False)
        self._call(self._output.commit, stop=False)
        self.close()

    def close(self) -> None:
        """Stop what the format runs beside the stream (JSONL's sync thread)."""
        closer = getattr(self._inner, "close", None)
        if closer is not None:
            with contextlib.suppress(OSError):
                closer()

    def _call(self, method: Callable[..., None], *args: Any, stop: bool = True) -> None:
        if self.error is not None:
            return
        try:
            method(*args)
        except OSError as exc:
            self.error = exc
            if stop:
                self._on_error(exc)


#: Where each format's writer lives: only the one asked for is imported (the HTML
#: writer brings jinja2, about 40 ms of every scan's start).
_WRITERS = {
    "jsonl": ("exposcan.report.jsonl", "JsonlWriter"),
    "json": ("exposcan.report.json_", "JsonWriter"),
    "csv": ("exposcan.report.csv_", "CsvWriter"),
    "sarif": ("exposcan.report.sarif", "SarifWriter"),
    "html": ("exposcan.report.html", "HtmlWriter"),
    "defectdojo": ("exposcan.report.defectdojo", "DefectDojoWriter"),
}


def make_writer(fmt: str, stream: IO[str]) -> ReportWriter:
    import importlib

    module, name = _WRITERS[fmt]
    writer: type[ReportWriter] = getattr(importlib.import_module(module), name)
    return writer(stream)  # type: ignore[call-arg]
