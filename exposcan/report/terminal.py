"""The human view: a progress line while scanning and a summary table after.

Both are for a terminal only; the CLI shows them when stderr is a TTY. Every cell of the
table is cleaned once more (:func:`exposcan.peertext.clean`): a terminal obeys ESC, BEL,
CR and the C1 controls (window titles, screen clears, fake lines) and bidi overrides
reorder a line, so none of them reaches it, whatever a result holds. The colours are
the view's own escapes, added after.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import IO

from exposcan import peertext
from exposcan.results import EndpointResult
from exposcan.summary import Progress, Summary
from exposcan.vocabulary import Exposure

_COLOURS = {
    Exposure.QUERY: "\x1b[1;31m",
    Exposure.STORE: "\x1b[31m",
    Exposure.ECHO: "\x1b[33m",
    Exposure.PROTECTED: "\x1b[32m",
    Exposure.NONE: "\x1b[2m",
}
_RESET = "\x1b[0m"


class ProgressLine:
    """One self-overwriting line, redrawn at most ten times a second."""

    def __init__(self, stream: IO[str], *, interval: float = 0.1) -> None:
        self._stream: IO[str] | None = stream
        self._interval = interval
        self._last = 0.0
        self._shown = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.done < progress.total and now - self._last < self._interval:
            return
        self._last = now
        share = progress.done / progress.total if progress.total else 1.0
        counts = " ".join(
            f"{exposure}={progress.by_exposure[exposure]}"
            for exposure in reversed(Exposure)
            if progress.by_exposure.get(exposure)
        )
        self._write(
            f"\r\x1b[K{progress.done}/{progress.total} endpoints ({share:.0%}), "
            f"{progress.in_flight} in flight, {progress.elapsed_s:.0f}s  {counts}"
        )
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._write("\r\x1b[K")

    def _write(self, text: str) -> None:
        # The progress line is a courtesy: a terminal that went away (EIO, EPIPE,
        # closed) must not end a scan of a clinical network half-way. It goes quiet.
        if self._stream is None:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._stream = None


def render_summary(
    results: Iterable[EndpointResult],
    summary: Summary,
    *,
    show_none: bool = False,
    colour: bool = False,
) -> str:
    """A table of the endpoints worth a look (all of them with ``show_none``)."""
    rows = [
        tuple(
            peertext.clean(cell, 1024)
            for cell in (
                f"{r.host}:{r.port}",
                r.protocol.value,
                r.exposure.value,
                r.severity.value,
                r.ae_title or "-",
                r.status.value,
                _note(r),
            )
        )
        for r in sorted(results, key=lambda r: (-r.exposure.rank, r.host, r.port))
        if show_none or r.exposure is not Exposure.NONE
    ]
    header = ("endpoint", "protocol", "exposure", "severity", "ae title", "status", "evidence")
    lines = []
    if rows:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        lines.append(fmt.format(*header))
        for row in rows:
            line = fmt.format(*row)
            if colour:
                line = _COLOURS[Exposure(row[2])] + line + _RESET
            lines.append(line)
        lines.append("")
    counts = ", ".join(f"{n} {e}" for e, n in summary.exposure.items() if n)
    lines.append(
        f"{summary.endpoints_done} of {summary.endpoints_planned} endpoints in "
        f"{summary.duration_s:.1f}s: {counts or 'nothing scanned'}"
        + (" (interrupted)" if summary.interrupted else "")
    )
    if summary.exposed:
        lines.append(f"{summary.exposed} endpoint(s) answered a stranger: see the report.")
    return "\n".join(lines)


def _note(result: EndpointResult) -> str:
    if result.findings:
        return result.findings[0].evidence
    return result.detail or ""
