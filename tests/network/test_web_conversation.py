"""One web endpoint's conversation: the request helper is the one gate of every request.

An endpoint that has stopped answering (two failures in a row, or one refusal or timeout)
is refused in :meth:`Conversation.admit` before any permit is taken, and the plan stops on
that; a spent budget answers ``None`` without a request. No sockets: a fake session.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from exposcan.options import ScanOptions
from exposcan.probes.web.answer import EndpointEnded, Failure
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.dicomweb import qido
from exposcan.probes.web.facts import MAX_REQUESTS, RequestLog
from exposcan.vocabulary import Status


class _Content:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self, n: int) -> bytes:
        chunk, self._body = self._body[:n], self._body[n:]
        return chunk

    def at_eof(self) -> bool:
        return not self._body


class _Response:
    connection = None

    def __init__(self) -> None:
        self.status = 404
        self.headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "text/plain"})
        self.content = _Content(b"no")

    def close(self) -> None:
        pass

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class _Session:
    """Answers 404, or raises what ``failures`` holds, one per request."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.sent = 0

    def get(self, url: Any, **_: Any) -> _Response:
        self.sent += 1
        if self.failures:
            raise self.failures.pop(0)
        return _Response()


class _Permits:
    def __init__(self) -> None:
        self.granted = 0

    async def __call__(self) -> None:
        self.granted += 1


def _conversation(session: _Session, permits: _Permits) -> Conversation:
    return Conversation("127.0.0.1", 8042, ScanOptions(), session, permits, scheme="http")  # type: ignore[arg-type]


async def test_two_failures_in_a_row_refuse_the_next_request_before_its_permit():
    session = _Session(aiohttp.ServerDisconnectedError(), aiohttp.ServerDisconnectedError())
    permits = _Permits()
    probe = _conversation(session, permits)
    assert await probe.get("/a", "test") is None  # connection-closed: not yet the end
    assert await probe.get("/b", "test") is None
    with pytest.raises(EndpointEnded):
        await probe.get("/c", "test")
    assert (session.sent, permits.granted, len(probe.log.records)) == (2, 2, 2)


async def test_one_timeout_ends_the_endpoint_and_an_answer_clears_a_failure():
    probe = _conversation(_Session(aiohttp.ServerDisconnectedError()), _Permits())
    assert await probe.get("/a", "test") is None
    answer = await probe.get("/b", "test")
    assert answer is not None
    assert answer.status == 404
    assert probe.log.consecutive_failures == 0
    assert not probe.log.ended()
    timeout = _conversation(_Session(TimeoutError()), _Permits())
    assert await timeout.get("/a", "test") is None
    assert timeout.log.failures[-1].status is Status.IO_TIMEOUT
    with pytest.raises(EndpointEnded):
        await timeout.get("/b", "test")


async def test_a_spent_budget_answers_none_without_a_request_or_a_permit():
    session, permits = _Session(), _Permits()
    probe = _conversation(session, permits)
    for i in range(MAX_REQUESTS):
        assert await probe.get(f"/p{i}", "test") is not None
    assert await probe.get("/more", "test") is None
    assert (session.sent, permits.granted, len(probe.log.records)) == (MAX_REQUESTS,) * 3


async def test_the_follow_up_of_failures_is_admitted_and_the_first_permit_is_not_asked_twice():
    permits = _Permits()
    probe = _conversation(_Session(TimeoutError()), permits)
    await probe.take_first_permit()
    assert await probe.get("/a", "test") is None
    assert permits.granted == 1  # the first permit covered the first request
    with pytest.raises(EndpointEnded):
        await probe.admit()
    assert await probe.admit(after_failures=True)  # the bare TLS handshake's
    assert permits.granted == 2


async def test_a_qido_root_already_asked_still_stops_an_ended_endpoint():
    # A skipped QIDO path must end the plan as the request would have: what the plan
    # does next (a viewer's other roots) is not observed on an endpoint that has ended.
    probe = _conversation(_Session(TimeoutError()), _Permits())
    await qido(probe, "/dicom-web")
    with pytest.raises(EndpointEnded):
        await qido(probe, "/dicom-web")


def test_the_ending_rule():
    log = RequestLog()
    assert not log.ended()
    log.failures.append(Failure(Status.ERROR, "x"))
    log.no_answer()
    assert not log.ended()
    log.no_answer()
    assert log.ended()
    log.consecutive_failures = 0
    assert not log.ended()  # an answer since: the old failures are history
    log.failures.append(Failure(Status.CONNECTION_REFUSED, "refused"))
    log.no_answer()
    assert log.ended()


@pytest.mark.parametrize("module", ["exposcan.probes.web.facts", "exposcan.probes.web.answer"])
def test_the_facts_and_answers_load_no_io(module):
    # Typed facts and answer readings are plain records: usable where no socket may open.
    io = ("aiohttp", "exposcan.net", "exposcan.probes.web.session")
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith({io!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
