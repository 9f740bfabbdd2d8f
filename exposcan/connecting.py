"""The connect seam: what a scan may say about each connection a probe opens.

:func:`~exposcan.net.transport.open_connection` asks the :class:`ConnectPolicy` of the
running task, if any (:data:`connect_policy`, set by the engine for each endpoint's
worker), how long the TCP connect may wait, tells it what came back (a SYN-ACK or a RST
after how long, or nothing), and awaits :meth:`ConnectPolicy.established` once the TCP
connection is up and before a byte is sent (the engine's first-contact budget hands the
endpoint over to the load limits there). Probes do not change: without a policy a
connect waits the timeout it was given, as before.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

__all__ = ["ConnectPolicy", "connect_policy"]


class ConnectPolicy(Protocol):
    def connect_timeout(self, host: str, ceiling: float) -> float:
        """How long a TCP connect to ``host`` may wait; never more than ``ceiling``."""
        ...

    def issued(self, host: str) -> None:
        """The connect syscall to ``host`` returned: its SYN has left."""
        ...

    def answered(self, host: str, rtt: float) -> None:
        """``host`` answered a SYN (SYN-ACK or RST) after ``rtt`` seconds."""
        ...

    async def established(self, host: str) -> None:
        """The TCP connection is up; return when the conversation may start.

        The wait is for the scan's own budget: the caller's deadline stands still
        meanwhile (:func:`~exposcan.net.transport.open_connection`'s ``paused``)."""
        ...


#: The policy of the endpoint this task probes (None: connects wait their own timeout).
connect_policy: ContextVar[ConnectPolicy | None] = ContextVar(
    "exposcan_connect_policy", default=None
)
