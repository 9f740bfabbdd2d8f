"""Test doubles injected where the library takes a callable: a resolver and a clock."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence

from exposcan.errors import ScopeError


class FakeResolver:
    """A resolver from a dict; records every lookup; unknown names do not resolve."""

    def __init__(self, table: dict[str, Sequence[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.calls: list[str] = []

    async def __call__(self, hostname: str) -> Sequence[str]:
        self.calls.append(hostname)
        await asyncio.sleep(0)
        if hostname not in self.table:
            raise ScopeError(f"hostname {hostname!r} does not resolve")
        return self.table[hostname]


class FakeClock:
    """Now is what the test says; ``expire()`` jumps a day past any test expiry."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)
        self.expires = self.now + datetime.timedelta(hours=1)

    def __call__(self) -> datetime.datetime:
        return self.now

    def expire(self) -> None:
        self.now = self.expires + datetime.timedelta(days=1)
