"""The human view: a progress line while scanning, a summary table after
(:mod:`exposcan.report.terminal_table`), the command that resumes an interrupted scan.

Both are for a terminal only; the CLI shows them when stderr is a TTY, in colour unless
``NO_COLOR`` is set (any non-empty value, https://no-color.org) or ``--no-color`` is given.

The progress line rewrites itself with ``CR`` and erase-line, so anything else written to
the same terminal while it shows would be glued to it. When the report goes to stdout
and stdout is a terminal too (it is the same screen), the report's stream is wrapped in
a :class:`PausingStream`: the line is erased before each write to stdout and drawn again
after stdout's flush, so report lines and the progress line never share a row. The line
is drawn by hand, not by a ``rich.live.Live``: Live redraws from its own thread, between
a write to stdout and its flush, which is exactly the interleaving to avoid. rich renders
the line's text (colours, cropping to the terminal's width) and the table.
"""

from __future__ import annotations

import io
import os
import shlex
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO, Any, TextIO

from rich.text import Text

from exposcan.gating import acceptance_holds, failing
from exposcan.logs import is_terminal
from exposcan.report.terminal_table import render_summary, terminal_width, text_console
from exposcan.results import EndpointResult
from exposcan.summary import Progress
from exposcan.vocabulary import Exposure, Severity

__all__ = [
    "PausingStream",
    "ProgressLine",
    "colour_wanted",
    "gate_line",
    "render_summary",
    "resume_command",
]

_ERASE = "\r\x1b[K"


def colour_wanted(stream: TextIO | None, *, no_color: bool = False) -> bool:
    """Colour on ``stream``: a terminal, no ``--no-color``, no (non-empty) ``NO_COLOR``."""
    return not no_color and not os.environ.get("NO_COLOR") and is_terminal(stream)


class ProgressLine:
    """One self-overwriting line: endpoints done of planned, rate, ETA, exposed so far;
    redrawn at most once per ``interval`` seconds.

    ``previous``: the exposures of the endpoints the earlier runs of a resumed scan
    finished; they count as done (the engine counts only this run's), the rate and ETA
    are this run's."""

    def __init__(
        self,
        stream: IO[str],
        *,
        interval: float = 0.1,
        colour: bool = False,
        previous: Iterable[str] = (),
        width: int | None = None,
    ) -> None:
        self._stream: IO[str] | None = stream
        self._interval = interval
        self._last = 0.0
        self._shown = False
        self._text = ""
        self._width = width
        self._previous: Counter[str] = Counter(str(e) for e in previous)
        # Its file is unused: the line is rendered through capture().
        self._console = text_console(io.StringIO(), colour=colour)

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.done < progress.total and now - self._last < self._interval:
            return
        self._last = now
        self._text = self._render(progress)
        self.show()

    def _render(self, progress: Progress) -> str:
        by_exposure = self._previous + Counter({str(k): v for k, v in progress.by_exposure.items()})
        done = progress.done + sum(self._previous.values())
        total = max(progress.total, done)
        share = done / total if total else 1.0
        rate = progress.done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        left = total - done
        eta = _duration(left / rate) if rate > 0 else ("0:00" if left == 0 else "?")
        exposed = sum(n for e, n in by_exposure.items() if Exposure(e) >= Exposure.ECHO)
        line = Text()
        line.append(f"{done}/{total} endpoints ({share:.0%})", style="bold")
        line.append(f", {rate:.1f}/s, ETA {eta}, ")
        line.append(f"{exposed} exposed", style="bold red" if exposed else "green")
        line.append(f", {progress.in_flight} in flight")
        counts = " ".join(
            f"{exposure}={by_exposure[exposure]}"
            for exposure in reversed(Exposure)
            if by_exposure.get(exposure)
        )
        if counts:
            line.append(f"  {counts}", style="dim")
        # One column short of the width: a line that fills it wraps on some terminals,
        # and an erase-line would then clear only its second row.
        width = max(10, (self._width or self._terminal_width()) - 1)
        line.truncate(width, overflow="ellipsis")
        with self._console.capture() as captured:
            self._console.print(line, end="", no_wrap=True, crop=False, soft_wrap=True)
        return captured.get()

    def _terminal_width(self) -> int:
        try:
            fd = self._stream.fileno() if self._stream is not None else None
        except (OSError, ValueError, AttributeError):
            fd = None
        return terminal_width(fd)

    def show(self) -> None:
        """Draw the latest line again (after :meth:`hide`)."""
        if self._text:
            self._write(_ERASE + self._text)
            self._shown = True

    def hide(self) -> None:
        """Erase the line now: something else is about to write to this terminal."""
        if self._shown:
            self._write(_ERASE)
            self._shown = False

    def clear(self) -> None:
        """Erase the line for good (the scan is over)."""
        self.hide()
        self._text = ""

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


class PausingStream:
    """The report's stream, when it shares a screen with the progress line: the line is
    erased before each write and drawn again after each flush (the report's writers
    flush after every record), so the two never share a row."""

    def __init__(self, stream: IO[str], line: ProgressLine) -> None:
        self._stream = stream
        self._line = line

    def write(self, text: str) -> int:
        self._line.hide()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()
        self._line.show()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, close, ...: the stream's
        return getattr(self._stream, name)


def gate_line(results: Iterable[EndpointResult], threshold: Severity) -> tuple[int, str]:
    """What ``--fail-on`` found: how many findings at or above ``threshold`` no acceptance
    covers, and the line that says so (with how many accepted ones were left out)."""
    results = tuple(results)
    found = len(failing(results, threshold))
    accepted = sum(
        1
        for result in results
        for finding in result.findings
        if finding.severity >= threshold and acceptance_holds(finding)
    )
    noun = "finding" if found == 1 else "findings"
    line = f"exposcan: {found} {noun} at or above {threshold}"
    if accepted:
        line += f" ({accepted} accepted finding{'' if accepted == 1 else 's'} not counted)"
    return found, line


def resume_command(argv: Sequence[str], *, prog: str = "exposcan") -> str:
    """The command line that resumes the scan ``argv`` started: the same words, shell
    quoted, with ``--resume`` added unless it is there already."""
    words = _without_passwords(list(argv))
    if not any(w.startswith("--res") and "--resume".startswith(w) for w in words):
        words.append("--resume")
    return shlex.join([prog, *words])


def _without_passwords(words: list[str]) -> list[str]:
    """A ``--broker`` URL's password never reaches the terminal (or a scrollback, a
    screen recording, a ticket it is pasted into): it is shown as ``***``, and the user
    types it again or sets ``EXPOSCAN_BROKER``."""
    from exposcan.managed.broker import redact

    out: list[str] = []
    after_broker = False
    for word in words:
        if after_broker:
            out.append(redact(word))
            after_broker = False
        elif word == "--broker":
            out.append(word)
            after_broker = True
        elif word.startswith("--broker="):
            out.append("--broker=" + redact(word.removeprefix("--broker=")))
        else:
            out.append(word)
    return out


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
