"""The scan's two budgets (exposcan.pacing), with a gate that only records what it is asked."""

from __future__ import annotations

import asyncio
import contextlib

from exposcan.options import DefaultCount, Limits, ScanOptions
from exposcan.pacing import Pacing


class _Gate:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @contextlib.asynccontextmanager
    async def host(self, address: str):
        yield

    async def permit(self, address: str) -> None:
        self.calls.append(("permit", address))

    async def first_contact(self, address: str) -> None:
        self.calls.append(("first", address))

    async def converted(self, address: str) -> None:
        self.calls.append(("converted", address))


def _pacing(**limits) -> tuple[Pacing, _Gate]:
    gate = _Gate()
    return Pacing(ScanOptions(limits=Limits(**limits)), gate), gate


async def test_an_answered_first_contact_waits_for_a_load_slot_and_holds_new_first_contacts():
    pacing, gate = _pacing(concurrency=DefaultCount(1), first_contact_concurrency=4)
    pacing.reach.answered("10.0.0.9")
    busy = await pacing.admit("10.0.0.9")  # the only load slot
    assert not busy.first
    first = await pacing.admit("10.0.0.1")
    assert first.first
    await first.permit()
    assert gate.calls == [("first", "10.0.0.1")]
    first.answered("10.0.0.1", 0.001)  # its SYN-ACK
    talking = asyncio.create_task(first.established("10.0.0.1"))
    await asyncio.sleep(0.01)
    assert not talking.done()  # no load slot: no byte sent yet
    later = asyncio.create_task(pacing.admit("10.0.0.2"))
    await asyncio.sleep(0.01)
    assert not later.done()  # no new first contact while an answered one waits
    busy.release()
    await asyncio.wait_for(talking, 1)
    assert not first.first  # now in the load budget
    assert gate.calls[-1] == ("converted", "10.0.0.1")  # and it took the global rate
    await asyncio.wait_for(later, 1)
    first.release()
    later.result().release()
    await asyncio.wait_for(pacing.drained(), 1)


async def test_a_host_that_answered_takes_the_load_budget_and_plain_permits():
    pacing, gate = _pacing()
    pacing.reach.answered("10.0.0.5")
    ticket = await pacing.admit("10.0.0.5")
    assert not ticket.first
    await ticket.permit()
    await ticket.established("10.0.0.5")
    assert gate.calls == [("permit", "10.0.0.5")]  # no first-contact grant, no second grant
    ticket.release()
    ticket.release()  # once only
    await asyncio.wait_for(pacing.drained(), 1)


async def test_a_chosen_concurrency_is_a_ceiling_on_every_endpoint():
    pacing, _ = _pacing(concurrency=2)
    tickets = [await pacing.admit(f"10.0.1.{i}") for i in range(2)]
    assert not any(t.first for t in tickets)  # no first-contact pool at all
    third = asyncio.create_task(pacing.admit("10.0.1.9"))
    await asyncio.sleep(0.01)
    assert not third.done()
    tickets[0].release()
    (await asyncio.wait_for(third, 1)).release()
    tickets[1].release()


async def test_connect_timeouts_follow_the_table_or_the_ceiling_when_off():
    pacing, _ = _pacing()
    ticket = await pacing.admit("10.0.2.1")
    assert ticket.connect_timeout("10.0.2.1", 3.0) == 1.0  # nothing known: the initial
    ticket.answered("10.0.2.1", 0.0001)
    assert ticket.connect_timeout("10.0.2.1", 3.0) == 0.5  # the floor
    plain = Pacing(ScanOptions(adaptive_timeouts=False), _Gate())
    other = await plain.admit("10.0.2.1")
    assert other.connect_timeout("10.0.2.1", 3.0) == 3.0
