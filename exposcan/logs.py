"""structlog set-up for the command line (:func:`configure`, which the library never
calls), and the library's own loggers (:func:`get_logger`), silent until someone does.

Everything the process says on stderr goes through structlog once :func:`configure` has
run: our own events, Python warnings (cryptography's ``UserWarning`` and
``CryptographyDeprecationWarning``, aiohttp's, asyncio's ``ResourceWarning``), the
standard library's logging (asyncio's "Task exception was never retrieved", aiohttp's and
pynetdicom's loggers) and the last-resort printers of dying threads and finalisers, so
when stderr is not a terminal every line is one JSON object. Text that came from
elsewhere (a warning's message, a log record's) is escaped to printable ASCII and bounded
before it is logged: it may quote what a peer sent. Importing this module changes
nothing; neither does the library: warning filters are never touched, only how a warning
is shown.

structlog's defaults print every event to stdout, and a library must say nothing unless
its caller asks (a notebook's cells, a service's stdout): :func:`get_logger` hands out
loggers that stay silent until structlog is configured, by :func:`configure` or by the
application itself, and then log as that configuration says.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import traceback
import warnings
from collections.abc import MutableMapping
from typing import Any, Final, TextIO

import structlog

#: Foreign text (a warning's message, a log record's) is cut to this many characters.
FOREIGN_TEXT_LIMIT: Final = 512

_LEVELS: Final = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


class LibraryLogger:
    """A structlog logger that says nothing while structlog is unconfigured."""

    __slots__ = ("_logger",)

    def __init__(self, name: str) -> None:
        self._logger = structlog.get_logger(name)  # lazy: reads the configuration on use

    def debug(self, event: str, **fields: Any) -> None:
        if structlog.is_configured():
            self._logger.debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        if structlog.is_configured():
            self._logger.info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        if structlog.is_configured():
            self._logger.warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        if structlog.is_configured():
            self._logger.error(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        if structlog.is_configured():
            self._logger.exception(event, **fields)


def get_logger(name: str) -> LibraryLogger:
    """The library's logger for ``name``: silent until structlog is configured."""
    return LibraryLogger(name)


class StderrLogger:
    """structlog's PrintLogger to stderr, except that a line stderr will not take (closed,
    on a full disk, its reader gone) is dropped. Logs are diagnostics and the report is the
    record: an OSError out of a log call ended a scan before its summary was written (exit
    1). With stderr closed (``2>&-``, ``sys.stderr`` is None) nothing is written, where
    PrintLogger would print to stdout, into the report."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        if self._stream is None:
            return
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.write(message + "\n")
            self._stream.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal; a closed or missing stream (``2>&-``) is not."""
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


class _ConsoleRenderer:
    """structlog's console renderer, in colour or not as :func:`set_colour` last said
    (a subcommand's ``--no-color`` is parsed after :func:`configure` ran, and loggers
    cached on first use keep the processors they were made with)."""

    colour = True

    def __init__(self) -> None:
        self._coloured = structlog.dev.ConsoleRenderer(colors=True)
        self._plain = structlog.dev.ConsoleRenderer(colors=False)

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        renderer = self._coloured if _ConsoleRenderer.colour else self._plain
        return renderer(logger, method, event)


def set_colour(enabled: bool) -> None:
    """Colour in readable log lines, or none (``--no-color``; ``NO_COLOR`` is read by
    :func:`configure`)."""
    _ConsoleRenderer.colour = enabled


def configure(*, verbosity: int = 0, json: bool | None = None) -> None:
    """Logs go to stderr: JSON lines when stderr is not a terminal, else readable (in
    colour unless ``NO_COLOR`` is set to anything: https://no-color.org)."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    if json is None:
        json = not is_terminal(sys.stderr)
    stderr = StderrLogger(sys.stderr)
    set_colour(not os.environ.get("NO_COLOR"))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else _ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _exception,  # not format_exc_info: its traceback quotes raw text
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_: stderr,
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(level)
    warnings.showwarning = _show_warning
    # Python's last-resort printers write raw tracebacks: a thread that dies (the demo
    # lab's servers), an exception in a finaliser (``Exception ignored in: ...``).
    threading.excepthook = _thread_exception
    sys.unraisablehook = _unraisable
    # pynetdicom logs through the standard library; the demo lab's servers and
    # the codec must not print over our output unless asked to.
    logging.getLogger("pynetdicom").setLevel(logging.ERROR if verbosity < 2 else logging.DEBUG)
    # asyncio's debug lines ("Using selector: ...") describe the event loop, not the
    # scan; its warnings and errors (a task that failed unseen) still come through.
    logging.getLogger("asyncio").setLevel(logging.WARNING)


def foreign(text: object, limit: int = FOREIGN_TEXT_LIMIT) -> str:
    """``text`` as printable ASCII (``ascii()`` escapes: ESC is ``\\x1b``, U+202E is
    ``\\u202e``), at most ``limit`` characters: safe on a terminal and in one JSON line."""
    escaped = ascii(str(text))[1:-1]
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


#: A logged exception's traceback is cut to its last this many characters.
EXCEPTION_TEXT_LIMIT: Final = 8192


def exception_text(exc_info: tuple[type[BaseException], BaseException, Any]) -> str:
    """A traceback with every line as printable ASCII (:func:`foreign`), at most
    :data:`EXCEPTION_TEXT_LIMIT` characters (the end kept: it names what raised).

    An exception raised while reading a peer's bytes may quote them in its message (a
    ``ValueError`` with the value, a ``KeyError`` with the key): structlog's
    ``format_exc_info`` wrote that text raw, and the console renderer printed it raw."""
    text = "".join(traceback.format_exception(*exc_info))
    # Split at "\n" only: a CR, U+2028 or U+0085 in a message must not start a line.
    lines = "\n".join(ascii(line)[1:-1] for line in text.rstrip("\n").split("\n"))
    if len(lines) <= EXCEPTION_TEXT_LIMIT:
        return lines
    return "..." + lines[-(EXCEPTION_TEXT_LIMIT - 3) :]


def _exception(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``exc_info`` becomes ``exception``, as :func:`exception_text`."""
    exc_info = event.pop("exc_info", None)
    if not exc_info:
        return event
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is not None:
        event["exception"] = exception_text(exc_info)
    return event


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning``: one structured event instead of raw lines on stderr.
    (The filters decide, as before, whether a warning is shown at all.)"""
    structlog.get_logger("py.warnings").warning(
        "python_warning",
        category=category.__name__,
        message=foreign(message),
        source=f"{os.path.basename(filename)}:{lineno}",
    )


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # as threading's own hook: a thread that exits is no error
    structlog.get_logger("threading").error(
        "thread_exception",
        thread=foreign(args.thread.name if args.thread is not None else "?", 64),
        exc_type=args.exc_type.__name__,
        exc=foreign(args.exc_value),
    )


def _unraisable(unraisable: Any) -> None:
    structlog.get_logger("unraisable").warning(
        "unraisable_exception",
        message=foreign(unraisable.err_msg or "Exception ignored in"),
        object=foreign(type(unraisable.object).__name__, 64),
        exc_type=unraisable.exc_type.__name__,
        exc=foreign(unraisable.exc_value),
    )


class _ToStructlog(logging.Handler):
    """The standard library's records, as structlog events (one line each)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {
                "logger": record.name,
                "message": foreign(record.getMessage()),
            }
            if record.exc_info and record.exc_info[0] is not None:
                fields["exc_type"] = record.exc_info[0].__name__
                fields["exc"] = foreign(record.exc_info[1])
            method = _LEVELS.get(record.levelno, "warning")
            getattr(structlog.get_logger(record.name), method)("library_log", **fields)
        except Exception:
            self.handleError(record)


def _route_standard_logging(level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ToStructlog):
            root.removeHandler(handler)
    handler = _ToStructlog(level)
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, level))
