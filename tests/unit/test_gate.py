"""The politeness gate without sockets: the sliding window's arithmetic (property
tested on a given clock) and LocalGate's limits on the running loop's clock.

The timed tests assert limits (no more than N grants in a window, who waits for
whom), never speed; each keeps to about one second of windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposcan.engine import Engine
from exposcan.lab import free_port
from exposcan.limits import Gate, LocalGate, SlidingWindow, window_for_rate
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.scope.targets import TargetSet
from exposcan.vocabulary import Status


def max_in_window(times: list[float], period: float = 1.0) -> int:
    """The most instants in any half-open interval [t, t + period)."""
    times = sorted(times)
    counts = (sum(1 for u in times[i:] if u < t + period) for i, t in enumerate(times))
    return max(counts, default=0)


# --- the window's arithmetic, on a clock the test holds -----------------------


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(1, 6),
    period=st.sampled_from([0.25, 1.0, 3.0]),
    asks=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=40),
)
def test_window_never_grants_more_than_count_in_any_period(
    count: int, period: float, asks: list[float]
) -> None:
    """Requests at arbitrary instants, each granted as soon as delay() allows: no
    interval of ``period`` holds more than ``count`` grants, and nobody waits when
    the window has room (a grant is late only when ``count`` others are in the way)."""
    window = SlidingWindow(count, period)
    granted: list[float] = []
    now = 0.0
    for ask in sorted(asks):
        now = max(now, ask)
        ready = window.ready_at(now)
        assert ready >= now
        if ready > now:
            assert sum(1 for g in granted if g + period > now) == count  # full, so it waits
        now = ready
        window.take(now)
        granted.append(now)
    assert max_in_window(granted, period) <= count


def test_window_take_refuses_when_full_and_refund_frees() -> None:
    window = SlidingWindow(2, 1.0)
    window.take(0.0)
    window.take(0.5)
    assert window.ready_at(0.9) == 1.0
    with pytest.raises(RuntimeError):
        window.take(0.9)
    window.take(1.0)  # the grant at 0.0 has left [0, 1)
    assert window.ready_at(1.2) == 1.5
    window.refund(0.5)
    assert window.ready_at(1.2) == 1.2


@pytest.mark.parametrize(
    ("rate", "expected"), [(20.0, (20, 1.0)), (2.5, (2, 1.0)), (1.0, (1, 1.0)), (0.25, (1, 4.0))]
)
def test_rates_below_one_widen_the_window(rate: float, expected: tuple[int, float]) -> None:
    assert window_for_rate(rate) == expected


def test_window_refuses_an_empty_shape() -> None:
    with pytest.raises(ValueError, match="count >= 1"):
        SlidingWindow(0, 1.0)


# --- LocalGate on the loop's clock ---------------------------------------------


def _gate(**limits: float) -> LocalGate:
    return LocalGate(Limits(concurrency=64, **limits))  # type: ignore[arg-type]


async def _connect(gate: Gate, host: str, times: list[float], hold: float = 0.0) -> None:
    async with gate.host(host):
        await gate.permit(host)
        times.append(asyncio.get_running_loop().time())
        await asyncio.sleep(hold)


def test_local_gate_is_a_gate() -> None:
    gate: Gate = _gate()
    assert isinstance(gate, LocalGate)


async def test_global_rate_never_exceeded_in_any_second() -> None:
    gate = _gate(rate=10, per_host_rate=100)
    times: list[float] = []
    hosts = [f"192.0.2.{i}" for i in range(1, 16)]  # never connected to: no socket here
    await asyncio.gather(*(_connect(gate, h, times) for h in hosts))
    assert len(times) == gate.granted == 15
    assert max_in_window(times) <= 10
    assert max(times) - min(times) >= 0.99  # the eleventh had to wait for the window


async def test_per_host_rate_and_hosts_do_not_wait_for_each_other() -> None:
    gate = _gate(rate=1000, per_host_rate=3)
    busy: list[float] = []
    other: list[float] = []

    async def five_ports() -> None:
        async with gate.host("192.0.2.1"):
            for _ in range(5):
                await gate.permit("192.0.2.1")
                busy.append(asyncio.get_running_loop().time())

    start = asyncio.get_running_loop().time()
    task = asyncio.create_task(five_ports())
    await asyncio.sleep(0.1)  # the busy host is now waiting for its window
    await _connect(gate, "192.0.2.2", other)
    assert not task.done()
    assert other[0] - start < 0.5  # another host's permit is not queued behind it
    await task
    assert len(busy) == 5
    assert max_in_window(busy) <= 3
    assert max(busy) - min(busy) >= 0.99


async def test_one_association_per_host_at_a_time() -> None:
    gate = _gate(rate=1000, per_host_rate=1000)
    inside = 0
    most = 0
    other_host_entered = asyncio.Event()

    async def associate(host: str) -> None:
        nonlocal inside, most
        async with gate.host(host):
            if host != "192.0.2.1":
                other_host_entered.set()
                return
            inside += 1
            most = max(most, inside)
            await gate.permit(host)
            await asyncio.sleep(0.02)
            inside -= 1

    waiters = [asyncio.create_task(associate("192.0.2.1")) for _ in range(4)]
    await asyncio.sleep(0.005)
    await associate("192.0.2.2")  # not held up by the other host's queue
    assert other_host_entered.is_set()
    assert sum(w.done() for w in waiters) == 0
    await asyncio.gather(*waiters)
    assert most == 1


async def test_per_host_concurrency_is_the_number_of_slots() -> None:
    gate = LocalGate(Limits(per_host_concurrency=2, rate=1000, per_host_rate=1000))
    inside = 0
    most = 0

    async def associate() -> None:
        nonlocal inside, most
        async with gate.host("192.0.2.1"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(associate() for _ in range(5)))
    assert most == 2


async def test_cancelled_waiters_release_slot_and_take_no_grant() -> None:
    gate = _gate(rate=2, per_host_rate=100)
    first: list[float] = []
    await asyncio.gather(_connect(gate, "192.0.2.1", first), _connect(gate, "192.0.2.2", first))
    # The global window is full for about a second. One endpoint waits for a permit
    # and another for its host's slot, which the first one holds.
    held = asyncio.create_task(_connect(gate, "192.0.2.3", []))
    behind = asyncio.create_task(_connect(gate, "192.0.2.3", []))
    await asyncio.sleep(0.05)
    held.cancel()
    behind.cancel()
    results = await asyncio.gather(held, behind, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    # The slot came back (someone gets it at once) and the cancelled permit took no
    # grant: when the window opens, both of its two grants go to the two below.
    after: list[float] = []
    async with asyncio.timeout(0.2):
        async with gate.host("192.0.2.3"):
            pass
    await asyncio.gather(_connect(gate, "192.0.2.3", after), _connect(gate, "192.0.2.4", after))
    assert len(after) == 2
    assert max(after) - min(first) < 1.5  # both in the second window, not one a window later
    assert gate.granted == 4


async def test_permit_cancelled_after_its_grant_gives_it_back() -> None:
    window = SlidingWindow(1, 10.0)
    window.take(asyncio.get_running_loop().time())  # full for ten seconds
    waiter = asyncio.create_task(window.acquire())
    await asyncio.sleep(0)
    window.refund(window._grants[0])  # frees the window: the waiter is granted now
    waiter.cancel()  # before it could run: its grant must come back
    with pytest.raises(asyncio.CancelledError):
        await waiter
    now = asyncio.get_running_loop().time()
    assert window.ready_at(now) == now


async def test_permits_are_first_come_first_served() -> None:
    gate = _gate(rate=3, per_host_rate=100)
    order: list[str] = []

    async def connect(host: str) -> None:
        async with gate.host(host):
            await gate.permit(host)
            order.append(host)

    hosts = [f"192.0.2.{i}" for i in range(1, 6)]
    tasks = []
    for host in hosts:  # asked in this order, each behind the one before
        tasks.append(asyncio.create_task(connect(host)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == hosts  # nobody overtaken, nobody starved


async def test_hosts_are_forgotten_once_their_window_is_empty() -> None:
    gate = _gate(rate=1000, per_host_rate=50)  # a window of 1 s
    await _connect(gate, "192.0.2.1", [])
    await _connect(gate, "192.0.2.2", [])
    assert len(gate._hosts) == 2  # still inside their windows
    for slot in gate._hosts.values():  # age them past the window
        slot.window._grants = type(slot.window._grants)(t - 2 for t in slot.window._grants)
    await _connect(gate, "192.0.2.3", [])
    assert list(gate._hosts) == ["192.0.2.3"]


def test_engine_takes_an_injected_gate() -> None:
    targets = TargetSet([(1, 2)], [])
    options = ScanOptions()
    own = Engine(targets, (104,), options)
    assert isinstance(own.gate, LocalGate)
    shared = LocalGate(options.limits)
    assert Engine(targets, (104,), options, gate=shared).gate is shared


class RecordingGate:
    """A gate of the test's own: every call recorded, then handed to a LocalGate."""

    def __init__(self, limits: Limits) -> None:
        self.inner = LocalGate(limits)
        self.calls: list[tuple[str, str]] = []

    @contextlib.asynccontextmanager
    async def host(self, address: str) -> AsyncIterator[None]:
        self.calls.append(("host", address))
        async with self.inner.host(address):
            yield

    async def permit(self, address: str) -> None:
        self.calls.append(("permit", address))
        await self.inner.permit(address)


async def test_a_scan_asks_the_injected_gate_for_every_slot_and_connection() -> None:
    """Two closed loopback ports: each endpoint asks the gate for its host's slot and
    for its connection, and nothing else is asked (the engine has no gate of its own)."""
    loopback = int(ipaddress.IPv4Address("127.0.0.1"))
    ports = (free_port(), free_port())
    gate = RecordingGate(Limits(rate=100, per_host_rate=100))
    options = ScanOptions(timeouts=Timeouts(connect=1, read=1, release=0.5, endpoint=2))
    engine = Engine(TargetSet([(loopback, loopback + 1)], []), ports, options, gate=gate)
    results = [result async for result in engine.run()]
    assert [r.status for r in results] == [Status.CONNECTION_REFUSED] * 2
    assert gate.calls.count(("host", "127.0.0.1")) == 2
    assert gate.calls.count(("permit", "127.0.0.1")) >= 2
    assert gate.inner.granted == gate.calls.count(("permit", "127.0.0.1"))


@pytest.mark.parametrize("first_contact", [False, True])
async def test_per_host_rate_holds_when_a_shared_window_is_the_bottleneck(
    first_contact: bool,
) -> None:
    """A host's grants that queued behind a busy global (or first-contact) window must
    not leave together: benchmarks/sparse.py saw three SYNs to one host in 0.45 s."""
    limits = Limits(rate=20, first_contact_rate=20, per_host_rate=2, per_host_concurrency=1)
    gate = LocalGate(limits)
    loop = asyncio.get_running_loop()
    busy: list[float] = []

    async def one(address: str, out: list[float] | None, count: int) -> None:
        async with gate.host(address):
            for _ in range(count):
                if first_contact:
                    await gate.first_contact(address)
                else:
                    await gate.permit(address)
                if out is not None:
                    out.append(loop.time())

    crowd = [one(f"192.0.2.{i}", None, 1) for i in range(1, 31)]  # 1.5 s of the shared rate
    await asyncio.gather(*crowd, one("198.51.100.1", busy, 3))
    assert len(busy) == 3
    assert max_in_window(busy) <= 2


# --- grants counted when they are used, not when a loaded loop woke them ------


def _full_gate(first_contact: bool) -> LocalGate:
    """A gate whose global window (or first-contact window) allows 4 a second and is
    full now: the waiters that come next wait for it to open, together."""
    loop = asyncio.get_running_loop()
    window = SlidingWindow(4, 1.0)
    limits = Limits(
        rate=4 if not first_contact else 1000,
        first_contact_rate=4 if first_contact else 1000,
        concurrency=64,
        per_host_rate=100,
    )
    for _ in range(4):
        window.take(loop.time())
    return LocalGate(
        limits, **({"first_window": window} if first_contact else {"global_window": window})
    )


async def _eight_in_order(connect: Callable[[str, float], Awaitable[None]]) -> None:
    """Eight connects queued in this order, the second one stalling 0.3 s."""
    tasks = []
    for i in range(8):
        tasks.append(asyncio.create_task(connect(f"192.0.2.{i + 1}", 0.3 if i == 1 else 0.0)))
        await asyncio.sleep(0)  # queued in this order
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)


@pytest.mark.parametrize("first_contact", [False, True])
async def test_a_rate_holds_where_connections_start_when_the_loop_is_late(
    first_contact: bool,
) -> None:
    """Four waiters woken together when the window opens; the second blocks the loop for
    0.3 s once it runs (the work of other endpoints, on a loaded loop), so the third and
    fourth open their connections 0.3 s after they were woken. Counted at wake-up, the
    next four would start one period after the wake-up and six connections would start
    inside one second; counted where each connection starts (the instant ``permit``
    returns), never more than four."""
    loop = asyncio.get_running_loop()
    gate = _full_gate(first_contact)
    starts: list[float] = []

    async def connect(host: str, block: float) -> None:
        async with gate.host(host):
            await (gate.first_contact(host) if first_contact else gate.permit(host))
            starts.append(loop.time())  # where the SYN goes out
            time.sleep(block)  # noqa: ASYNC251 - blocking the loop is the point

    await _eight_in_order(connect)
    assert len(starts) == 8
    assert max_in_window(starts) <= 4
    assert max(starts) - min(starts) > 1.2  # the late two really were late


@pytest.mark.parametrize("first_contact", [False, True])
async def test_a_rate_holds_where_the_syn_leaves_when_the_process_stalls_after_its_permit(
    first_contact: bool,
) -> None:
    """As above, but the stall comes after the permit and before the connect syscall (a
    garbage collection, the process descheduled): the second of four waiters woken
    together sends its SYN 0.3 s after its permit. Recorded at the permit, the next
    grants would come one period after it and five SYNs would leave inside one second;
    recorded when the syscall says the SYN has left (``issued``), never more than four."""
    loop = asyncio.get_running_loop()
    gate = _full_gate(first_contact)
    syns: list[float] = []

    async def connect(host: str, stall: float) -> None:
        async with gate.host(host):
            await (gate.first_contact(host) if first_contact else gate.permit(host))
            time.sleep(stall)  # noqa: ASYNC251 - the stall between permit and syscall
            gate.issued(host)  # the connect syscall returned
            syns.append(loop.time())

    await _eight_in_order(connect)
    assert len(syns) == 8
    assert max_in_window(syns) <= 4
