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


def open_output(path: str | os.PathLike[str] | None, *, resume_at: int | None = None) -> IO[str]:
    """The report's stream: a file (checked before any packet is sent) or stdout.

    With ``resume_at`` the file is kept up to that many bytes (whole lines; a
    line torn by a killed writer is cut) and appended to.
    """
    if path is None or str(path) == "-":
        return sys.stdout
    try:
        if resume_at is None:
            return open(path, "w", encoding="utf-8")
        stream = open(path, "r+", encoding="utf-8")  # noqa: SIM115 - the caller closes it
        stream.truncate(resume_at)
        stream.seek(resume_at)
        return stream
    except OSError as exc:
        raise OutputError(f"cannot write report to {os.fspath(path)}: {exc.strerror}") from None


def make_writer(fmt: str, stream: IO[str]) -> ReportWriter:
    from exposcan.report.csv_ import CsvWriter
    from exposcan.report.html import HtmlWriter
    from exposcan.report.json_ import JsonWriter
    from exposcan.report.jsonl import JsonlWriter
    from exposcan.report.sarif import SarifWriter

    writers: dict[str, type[ReportWriter]] = {
        "jsonl": JsonlWriter,
        "json": JsonWriter,
        "csv": CsvWriter,
        "sarif": SarifWriter,
        "html": HtmlWriter,
    }
    return writers[fmt](stream)  # type: ignore[call-arg]
