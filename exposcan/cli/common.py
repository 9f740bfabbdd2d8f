"""What every subcommand shares: the parser that words usage errors as one line, argument
types, exit codes and the one-line writer for errors."""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
from typing import NoReturn

from exposcan.errors import OutputError, UserError
from exposcan.files import write_reason
from exposcan.report.writer import ReportOutput
from exposcan.shutdown import EXIT_SIGPIPE, silence_stdout

#: 0 done, 1 findings at or above ``--fail-on``, 2 user error, 130/143 interrupted.
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other user error."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)


def positive_float(name: str) -> type[float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, not {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name} must be above 0, not {text!r}")
        return value

    return parse  # type: ignore[return-value]


def positive_int(name: str) -> type[int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, not {text!r}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, not {text!r}")
        return value

    return parse  # type: ignore[return-value]


def write_failed(output: ReportOutput, error: OSError) -> int:
    """A report that could not be written: one line and exit 2, or, for a reader that
    went away (``exposcan scan | head``), a quiet exit as a Unix filter's."""
    if output.is_stdout:
        silence_stdout()  # what is still buffered must not fail again at exit
        if error.errno == errno.EPIPE:
            return EXIT_SIGPIPE
    raise OutputError(f"cannot write report to {output.name}: {write_reason(error)}")


#: What a write to stdout fails with when the disk or the reader does.
WRITE_ERRORS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def error_line(line: str) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed or gone
        print(line, file=sys.stderr, flush=True)
