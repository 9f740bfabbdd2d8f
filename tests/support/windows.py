"""A rate window that notes the instant of each grant it records (on the loop's clock:
the instant each grant is used, which is what the window limits)."""

from __future__ import annotations

from exposcan.limits import SlidingWindow

__all__ = ["RecordedWindow", "most_in_a_second"]


class RecordedWindow(SlidingWindow):
    def __init__(self, count: int, period: float) -> None:
        super().__init__(count, period)
        self.grants: list[float] = []

    def use(self) -> float:
        instant = super().use()
        self.grants.append(instant)
        return instant

    def refund(self, instant: float) -> None:
        self.grants.remove(instant)
        super().refund(instant)


def most_in_a_second(times: list[float], jitter: float = 0.0) -> int:
    """The most instants in any [t, t + 1 s); ``jitter`` narrows the window for instants
    seen on the listener's side, which a busy loop delays by a few milliseconds."""
    times = sorted(times)
    span = 1.0 - jitter
    return max((sum(1 for u in times[i:] if u < t + span) for i, t in enumerate(times)), default=0)
