"""Measuring memory around a piece of a test: Python allocations (tracemalloc) and RSS."""

from __future__ import annotations

import contextlib
import re
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass
class Growth:
    """Bytes: the peak above the level at the start, and whether the peak is exact."""

    peak: int = 0
    exact: bool = True

    @property
    def peak_mib(self) -> float:
        return self.peak / MIB


@contextlib.contextmanager
def python_peak_growth() -> Iterator[Growth]:
    """Peak of memory allocated by Python (every thread) inside the block, above its start."""
    growth = Growth()
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    try:
        yield growth
    finally:
        _, peak = tracemalloc.get_traced_memory()
        growth.peak = max(0, peak - base)
        if started_here:
            tracemalloc.stop()


_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    assert match is not None, field
    return int(match.group(1))


@contextlib.contextmanager
def rss_peak_growth(poll_s: float = 0.005) -> Iterator[Growth]:
    """Peak resident set size of this process inside the block, above its start.

    Exact where the kernel lets the high-water mark be reset (``/proc/self/clear_refs``,
    Linux 4.0+); otherwise sampled every ``poll_s`` by a thread.
    """
    growth = Growth()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    except OSError:
        growth.exact = False
    base = _status_kib("VmRSS")
    highest = base
    stop = threading.Event()

    def sample() -> None:
        nonlocal highest
        while not stop.wait(poll_s):
            highest = max(highest, _status_kib("VmRSS"))

    sampler = None if growth.exact else threading.Thread(target=sample, daemon=True)
    if sampler is not None:
        sampler.start()
    try:
        yield growth
    finally:
        if sampler is not None:
            stop.set()
            sampler.join(timeout=2)
        else:
            highest = _status_kib("VmHWM")
        highest = max(highest, _status_kib("VmRSS"))
        growth.peak = max(0, highest - base) * 1024
