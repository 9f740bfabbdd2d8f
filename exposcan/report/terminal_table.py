"""The summary table a scan ends with on a terminal (rich), as wide as the terminal.

Every cell is cleaned once more (:func:`exposcan.peertext.clean`) and handed to rich as
:class:`rich.text.Text`, never as markup: a terminal obeys ESC, BEL, CR and the C1
controls (window titles, screen clears, fake lines) and bidi overrides reorder a line,
so none of them reaches it, and ``[bold]`` in a peer's AE title stays text. The colours
are the view's own (one per exposure), only with ``colour``.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterable
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from exposcan import peertext
from exposcan.results import EndpointResult
from exposcan.summary import Summary
from exposcan.vocabulary import Exposure

__all__ = ["render_summary", "terminal_width", "text_console"]

#: rich styles; in the 16-colour palette they are ``ESC[1;31m``, ``ESC[31m``, ...
STYLES = {
    Exposure.QUERY: "bold red",
    Exposure.STORE: "red",
    Exposure.ECHO: "yellow",
    Exposure.PROTECTED: "green",
    Exposure.NONE: "dim",
}
_HEADER = ("endpoint", "protocol", "exposure", "severity", "ae title", "status", "evidence")
#: Which columns a narrow terminal loses first (indexes into the header).
_DROP_ORDER = (1, 5, 4)
_EVIDENCE_MIN = 12


def terminal_width(fd: int | None = 2, *, fallback: int = 100) -> int:
    """``COLUMNS`` if set (as every terminal program honours it), else the terminal's."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if fd is not None:
        try:
            return os.get_terminal_size(fd).columns or fallback
        except OSError:
            pass
    return shutil.get_terminal_size((fallback, 24)).columns


def text_console(file: IO[str], *, colour: bool, width: int | None = None) -> Console:
    """A rich console that renders text only: no markup, emoji or highlighting of what
    it prints (a peer's ``[bold]`` stays text), the 16 colours or none."""
    return Console(
        file=file,
        width=width,
        color_system="standard" if colour else None,
        force_terminal=colour,
        no_color=not colour,
        highlight=False,
        markup=False,
        emoji=False,
        legacy_windows=False,
    )


def render_summary(
    results: Iterable[EndpointResult],
    summary: Summary,
    *,
    show_none: bool = False,
    colour: bool = False,
    width: int | None = None,
) -> str:
    """A table of the endpoints worth a look (all of them with ``show_none``) and the
    counts; no line is wider than ``width`` (the terminal's, :func:`terminal_width`)."""
    width = max(20, width if width is not None else terminal_width())
    chosen = sorted(
        (r for r in results if show_none or r.exposure is not Exposure.NONE),
        key=lambda r: (-r.exposure.rank, r.host, r.port),
    )
    out = io.StringIO()
    console = text_console(out, colour=colour, width=width)
    if chosen:
        rows = [
            [
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
            ]
            for r in chosen
        ]
        kept = _columns_that_fit(rows, width)
        # The evidence gets what the other columns leave, cut with an ellipsis: one
        # line per endpoint.
        others = sum(max(len(row[i]) for row in [list(_HEADER), *rows]) for i in kept[:-1])
        evidence = max(_EVIDENCE_MIN, width - others - 3 * len(kept))
        table = Table(box=box.SIMPLE_HEAD, header_style="", pad_edge=False, show_edge=False)
        for i in kept[:-1]:
            table.add_column(_HEADER[i], overflow="fold")
        table.add_column("evidence", overflow="ellipsis", no_wrap=True, max_width=evidence)
        for r, row in zip(chosen, rows, strict=True):
            cells = [Text(row[i]) for i in kept]
            table.add_row(*cells, style=STYLES[r.exposure] if colour else None)
        console.print(table, crop=True)
        console.print()
    counts = ", ".join(f"{n} {e}" for e, n in summary.exposure.items() if n)
    lines = [
        f"{summary.endpoints_done} of {summary.endpoints_planned} endpoints in "
        f"{summary.duration_s:.1f}s: {counts or 'nothing scanned'}"
        + (" (interrupted)" if summary.interrupted else "")
    ]
    if summary.exposed:
        lines.append(f"{summary.exposed} endpoint(s) answered a stranger: see the report.")
    for line in lines:
        console.print(Text(line), crop=False, soft_wrap=False)
    return out.getvalue().rstrip("\n")


def _columns_that_fit(rows: list[list[str]], width: int) -> list[int]:
    """The columns to show (indexes into the header): all when they fit, else the least
    telling go first (protocol, status, AE title), so that a narrow terminal still gets
    one line per endpoint; the endpoint, its exposure, severity and evidence stay."""
    natural = [max(len(row[i]) for row in [list(_HEADER), *rows]) for i in range(len(_HEADER))]
    kept = list(range(len(_HEADER)))
    for drop in _DROP_ORDER:
        used = sum(natural[i] for i in kept[:-1]) + 3 * len(kept) + _EVIDENCE_MIN
        if used <= width:
            break
        kept.remove(drop)
    return kept


def _note(result: EndpointResult) -> str:
    if result.findings:
        return result.findings[0].evidence
    return result.detail or ""
