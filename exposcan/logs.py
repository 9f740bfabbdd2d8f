"""structlog set-up for the command line. The library never calls this."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(*, verbosity: int = 0, json: bool | None = None) -> None:
    """Logs go to stderr: JSON lines when stderr is not a terminal, else readable."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # pynetdicom logs through the standard library; the demo lab's servers and
    # the codec must not print over our output unless asked to.
    logging.getLogger("pynetdicom").setLevel(logging.ERROR if verbosity < 2 else logging.DEBUG)
