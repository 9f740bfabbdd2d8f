"""Reading a JSONL report back: whole lines only, each bounded, each a JSON object.

A record counts once its newline is written. The writer ends every record with
one and flushes it whole, so a last line without a newline was cut by a kill
(or is being written now) and is left out, whether or not its bytes happen to
parse. Every other line must be a JSON object (RFC 8259) in UTF-8, at most
:data:`MAX_LINE_BYTES` long and nested no deeper than the parser's recursion
limit; anything else is a :class:`BadRecord` naming the line. Blank lines are
skipped.

:func:`read_lines` is the one reader of a report file: ``--resume``
(:mod:`exposcan.report.resume`), :func:`exposcan.read_report` and
:func:`exposcan.report.read_jsonl` all read through it. It opens only a regular file,
without blocking (:func:`exposcan.files.open_regular`: a FIFO or a device is refused),
and every way the file can fail to be a report (missing, unreadable, a bad line) is one
:class:`UnreadableReport` whose text names the file and the line; each caller turns it
into its own :class:`~exposcan.errors.UserError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from exposcan.files import FileProblem, open_regular, show_path

#: An endpoint record is a few KiB; a line longer than this is not one of ours.
MAX_LINE_BYTES = 16 << 20


class BadRecord(ValueError):
    """A whole line that is not a record: ``str(exc)`` is ``"line N <reason>"``."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number} {reason}")
        self.number = number
        self.reason = reason


class UnreadableReport(Exception):
    """A file that cannot be read as a report. ``str(exc)`` names the file and says why:
    ``"r.jsonl line 3 is not JSON"``, ``"r.jsonl does not exist"`` or, for a problem with
    the file itself (:attr:`about_file`), ``"r.jsonl: Is a directory"``."""

    def __init__(self, name: str, reason: str, *, about_file: bool) -> None:
        super().__init__(f"{name}: {reason}" if about_file else f"{name} {reason}")
        self.name = name
        self.reason = reason
        self.about_file = about_file

    def sentence(self, doing: str) -> str:
        """``"<doing> r.jsonl: line 3 is not JSON"``, ``"<doing> r.jsonl: it does not
        exist"``: the one line a reader of reports (not ``--resume``) says."""
        reason = self.reason
        if not self.about_file and not reason.startswith("line "):
            reason = f"it {reason}"
        return f"{doing} {self.name}: {reason}"


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    #: offset just past this line's newline: a file cut here holds whole lines only
    end: int
    record: dict[str, Any]


def whole_lines(stream: BinaryIO, *, max_line: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Each newline-terminated, non-blank line of ``stream`` as a record, in order."""
    offset = number = 0
    while True:
        raw = stream.readline(max_line + 1)
        if not raw:
            return
        number += 1
        if not raw.endswith(b"\n"):
            if len(raw) > max_line:
                raise BadRecord(number, f"is longer than {max_line} bytes")
            return  # unterminated: torn by a kill, not a record
        offset += len(raw)
        body = raw[:-1]
        if body.strip():
            yield Line(number, offset, decode_record(body, number))


def read_lines(
    path: str | os.PathLike[str], *, max_line: int = MAX_LINE_BYTES
) -> Generator[Line, None, None]:
    """Each whole line of the report at ``path`` (:func:`whole_lines`); any problem with
    the file or a line is one :class:`UnreadableReport`."""
    name = show_path(path)
    try:
        with open_regular(path) as stream:
            yield from whole_lines(stream, max_line=max_line)
    except FileProblem as exc:
        if not os.path.lexists(path):
            raise UnreadableReport(name, "does not exist", about_file=False) from None
        raise UnreadableReport(name, str(exc), about_file=True) from None
    except BadRecord as exc:
        raise UnreadableReport(name, str(exc), about_file=False) from None
    except OSError as exc:  # reading failed half-way (EIO)
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise UnreadableReport(name, reason, about_file=True) from None


def decode_record(body: bytes, number: int) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRecord(number, f"is not UTF-8 text (bad byte at column {exc.start + 1})") from None
    try:
        record = json.loads(text)
    except RecursionError:
        raise BadRecord(number, "is nested too deeply to be a record") from None
    except ValueError:  # JSONDecodeError, and integers longer than int() takes
        raise BadRecord(number, "is not JSON") from None
    if not isinstance(record, dict):
        raise BadRecord(number, f"is a JSON {_json_type(record)}, not an object")
    return record


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"
