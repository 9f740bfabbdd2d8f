"""An answering host's later endpoints, pulled forward.

The engine walks port-major: every host on the first port, then every host on the
next. On a sparse block that walk is paced by first contacts (SYNs to addresses that
never answered), while the load budget, the one for hosts that have answered, idles;
and the few hosts that answer wait for the walk to come back to them once per port
(a sparse /16: five passes, the last three spent only on the 2 % that answered, at the
load rate). nmap scans all the ports of a host it has found up; exposcan does the same
for a host that has answered: once an endpoint of the walk finds its host answering,
the host's endpoints on the plan's later ports are queued here as one *chain*, probed
one after another under the load budget (their tickets), the host's slot and its
per-host rate (the gate), while the walk goes on; the walk then skips them.

What protects the host is unchanged: one association at a time, its per-host rate,
the load budget's conversations at once and rate. Only when its later ports are
probed changes: right after its first answer instead of a pass later.

Memory is bounded: at most :data:`PULLED_MAX` endpoints are pulled forward and not yet
passed by the walk (on a dense block, where every host answers, pulling stops there
until the walk catches up).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Container, Coroutine, Iterator
from typing import Any, Protocol

from exposcan.probe import Endpoint
from exposcan.probes.registry import Registration, Registry, SkipKey

__all__ = ["PULLED_MAX", "Followers", "FollowingSource"]

#: endpoints pulled forward that the walk has not yet passed, at most
PULLED_MAX = 16_384

Step = tuple[Registration, Endpoint]


class FollowingSource(Protocol):
    """An endpoint source that can say which endpoints of a host come later in its walk."""

    def after(
        self, registration: Registration, endpoint: Endpoint, probes: Registry
    ) -> Iterator[Step]: ...


def key_of(registration: Registration, endpoint: Endpoint) -> SkipKey:
    return (endpoint.host, endpoint.port, registration.kind)


class Followers:
    """The chains pulled forward, and the keys the walk must skip."""

    def __init__(self, source: FollowingSource, probes: Registry, skip: Container[SkipKey]) -> None:
        self._source, self._probes, self._skip = source, probes, skip
        self._pulled: set[SkipKey] = set()
        self._hosts: set[str] = set()  # hosts whose later endpoints were pulled
        self._chains: deque[list[Step]] = deque()
        self._running = 0
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def passed(self, registration: Registration, endpoint: Endpoint) -> bool:
        """The walk reached this endpoint: True if it was pulled forward (skip it)."""
        key = key_of(registration, endpoint)
        if key in self._pulled:
            self._pulled.discard(key)
            return True
        return False

    def answered(self, registration: Registration, endpoint: Endpoint) -> None:
        """An endpoint of the walk found its host answering: pull its later endpoints."""
        host = endpoint.host
        if host in self._hosts or len(self._pulled) >= PULLED_MAX:
            return
        self._hosts.add(host)
        chain = [
            step
            for step in self._source.after(registration, endpoint, self._probes)
            if key_of(*step) not in self._skip
        ]
        if not chain:
            return
        self._pulled.update(key_of(*step) for step in chain)
        self._chains.append(chain)
        self._idle.clear()
        self._ready.set()

    async def idle(self) -> None:
        """Until no chain is queued or running."""
        await self._idle.wait()

    def is_idle(self) -> bool:
        return self._idle.is_set()

    async def run(self, start: Callable[[list[Step]], Coroutine[Any, Any, None]]) -> None:
        """Start each chain as it is queued (``start`` awaits its first ticket and
        returns once the chain's task is running); for ever, until cancelled."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._chains:
                chain = self._chains.popleft()
                self._running += 1
                await start(chain)
            self._settle()

    def chain_done(self) -> None:
        self._running -= 1
        self._settle()

    def _settle(self) -> None:
        if not self._chains and not self._running:
            self._idle.set()
