"""An opt-in progress display for notebooks and scripts: :func:`progress`.

The library shows nothing by itself; a caller who wants to watch a scan asks for a
display and passes it as ``on_progress``::

    import exposcan, exposcan.notebook

    with exposcan.notebook.progress() as show:
        report = await exposcan.scan("scope.toml", on_progress=show)

Three ways to show it, chosen by ``kind`` (``"auto"`` picks the first that fits):

- ``"ipython"``: one line in the cell's output, updated in place through IPython's own
  display handle (no widget library: rich's live display in Jupyter wants ipywidgets);
- ``"rich"``: rich's progress bar (rate and ETA), for a terminal;
- ``"text"``: a plain line now and then (at most every ``every_s`` seconds, and the last
  one), for a log or a stream that is not a terminal.

No tqdm. The line holds counts only: endpoints done, exposed, by exposure level.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Literal, Protocol, TextIO

from exposcan.summary import Progress
from exposcan.vocabulary import Exposure

__all__ = ["ProgressDisplay", "describe", "progress"]

Kind = Literal["auto", "ipython", "rich", "text"]
KINDS: Final = ("auto", "ipython", "rich", "text")


class _Handle(Protocol):
    """What IPython's ``display(..., display_id=True)`` returns (a ``DisplayHandle``)."""

    def update(self, obj: Any) -> None: ...


def _exposed(snapshot: Progress) -> dict[str, int]:
    """The levels a stranger got into (echo or worse), in the vocabulary's order."""
    counts = {str(k): n for k, n in snapshot.by_exposure.items() if n}
    return {str(e): counts[e] for e in Exposure if e >= Exposure.ECHO and e in counts}


def describe(snapshot: Progress) -> str:
    """``12/24 endpoints, 3 exposed (echo 2, query 1), 4.1 s``: the progress line."""
    exposed = _exposed(snapshot)
    detail = ", ".join(f"{k} {n}" for k, n in exposed.items())
    return (
        f"{snapshot.done}/{snapshot.total} endpoints, {sum(exposed.values())} exposed"
        f"{f' ({detail})' if detail else ''}, {snapshot.elapsed_s:.1f} s"
    )


class ProgressDisplay:
    """A callable for ``on_progress``; a context manager that closes the display.

    It also closes itself once the last endpoint is done, so it may be used without
    ``with``; :meth:`close` is idempotent."""

    def __init__(self, show: Callable[[Progress], None], close: Callable[[], None]) -> None:
        self._show = show
        self._close = close
        self._closed = False
        #: the last snapshot shown (None before the first endpoint)
        self.last: Progress | None = None

    def __call__(self, snapshot: Progress) -> None:
        if self._closed:
            return
        self.last = snapshot
        self._show(snapshot)
        if snapshot.total and snapshot.done >= snapshot.total:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Line:
    """One line of text for IPython's display: it shows an object's repr, and a plain
    ``str``'s repr would be quoted."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _ipython_handle() -> _Handle | None:
    """A display handle in the running IPython kernel, or None outside one."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:  # never imported: not in IPython, and not ours to start
        return None
    try:
        # by name: IPython is no dependency of ours (and ships no stubs where it is)
        display = importlib.import_module("IPython.display").display
    except (ImportError, AttributeError):
        return None
    shell = ipython_module.get_ipython() if hasattr(ipython_module, "get_ipython") else None
    if shell is None or not hasattr(shell, "kernel"):  # a terminal IPython: rich does it
        return None
    handle: _Handle | None = display(_Line("exposcan: starting"), display_id=True)
    return handle


def _ipython(handle: _Handle) -> ProgressDisplay:
    def show(snapshot: Progress) -> None:
        handle.update(_Line(f"exposcan: {describe(snapshot)}"))

    return ProgressDisplay(show, lambda: None)


def _rich(stream: TextIO, description: str) -> ProgressDisplay:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[exposed]} exposed"),
        console=Console(file=stream),
        transient=False,
    )
    task = bar.add_task(description, total=None, exposed=0)
    bar.start()

    def show(snapshot: Progress) -> None:
        exposed = sum(_exposed(snapshot).values())
        bar.update(task, total=snapshot.total, completed=snapshot.done, exposed=exposed)

    return ProgressDisplay(show, bar.stop)


def _text(stream: TextIO, every_s: float, clock: Callable[[], float]) -> ProgressDisplay:
    shown_at: list[float] = []

    def show(snapshot: Progress) -> None:
        now = clock()
        last = snapshot.total and snapshot.done >= snapshot.total
        if shown_at and now - shown_at[-1] < every_s and not last:
            return
        shown_at[:] = [now]
        stream.write(f"exposcan: {describe(snapshot)}\n")
        stream.flush()

    return ProgressDisplay(show, lambda: None)


def progress(
    kind: Kind = "auto",
    *,
    stream: TextIO | None = None,
    every_s: float = 1.0,
    description: str = "scanning",
    handle: _Handle | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProgressDisplay:
    """A progress display to pass as ``on_progress`` (to :func:`exposcan.scan`,
    :func:`exposcan.scan_iter` or :meth:`exposcan.ScanPlan.run`).

    ``stream``: where ``"rich"`` and ``"text"`` write (default ``sys.stderr``);
    ``handle``: an IPython display handle to update (default: a new one in the running
    kernel); ``every_s``: the text display's interval. ``"auto"`` takes IPython in a
    Jupyter kernel, rich on a terminal, text otherwise."""
    if kind not in KINDS:
        raise ValueError(f"progress kind must be one of {', '.join(KINDS)}, not {kind!r}")
    out = stream if stream is not None else sys.stderr
    if out is None:  # stderr closed (2>&-): nothing to show on
        return ProgressDisplay(lambda snapshot: None, lambda: None)
    if kind in ("auto", "ipython"):
        found = handle if handle is not None else _ipython_handle()
        if found is not None:
            return _ipython(found)
        if kind == "ipython":
            raise RuntimeError("no IPython kernel is running: use progress('rich') or 'text'")
    if kind == "rich" or (kind == "auto" and _is_terminal(out)):
        return _rich(out, description)
    return _text(out, every_s, clock)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
