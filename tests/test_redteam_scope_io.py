"""Red team (issue 10, classes 1, 5, 6 and 8): breaks found by attacking the scope,
the authorisation's expiry and the CLI's input and output as an attacker and as a
careless user would. Each test failed on the code before its fix.

Only loopback is connected to (listeners the tests start themselves).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import exposcan
from exposcan.errors import AuthorisationExpired
from exposcan.options import Limits, ScanOptions, Timeouts
from tests.test_authorisation_time import FakeClock

FAST = Timeouts(connect=1, read=1, release=0.5, endpoint=2)


# --------------------------------------------------------------------------- expiry


async def test_an_endpoint_granted_its_first_connection_after_expiry_does_not_start(
    counting_listener: Any, write_scope: Any
) -> None:
    """Two hosts get their slots at once; the global rate (1 a second) makes the second
    wait for its first connection, and the authorisation ends meanwhile. Before the fix
    the expiry was judged only at the host slot, so the second host was connected to a
    second after the authorisation ended (with ``--rate 0.01``: minutes after) and the
    scan said it had finished."""
    hosts = ("127.0.0.1", "127.0.0.2")
    listener = counting_listener(hosts)
    clock = FakeClock()
    scope = write_scope(list(hosts), [listener.port], expires=clock.expires)

    def now() -> datetime.datetime:
        if listener.accepted:  # the first endpoint is in flight: the authorisation ends
            clock.expire()
        return clock.now

    options = ScanOptions(
        limits=Limits(concurrency=2, rate=1, per_host_rate=100), timeouts=FAST, ae_attempts=1
    )
    with pytest.raises(AuthorisationExpired, match="1 of 2 endpoints not started") as caught:
        await exposcan.scan(scope, options=options, clock=now)
    assert sorted({address for address, _ in listener.accepted}) == ["127.0.0.1"]
    assert [r.host for r in caught.value.report.results] == ["127.0.0.1"]
    assert caught.value.report.summary.stopped == "authorisation-expired"
